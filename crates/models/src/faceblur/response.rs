//! The face-blur function's answer on the wire: [`FaceBlurResponse`] (JSON, serde) and, for seed 002's
//! unchanged `client.py`, [`FaceBlurResponse::to_seed_text`].
//!
//! Seed 002's OpenFaaS handler returned the Python dict `{"text": str(total_seconds), "img": <base64 PNG>}`, and
//! the classic watchdog sent its stdout as the body: the detector's `... Elapsed ML time: <s>` line, the
//! handler's `Total time: <s>` line, then the dict's `repr`. The client scans that body line by line with the
//! regexes `img': '(.*?)'`, `Elapsed ML time: (.*)` and `Total time: (.*)`, all times in seconds.
//! [`FaceBlurResponse`] keeps `text` and `img` under the seed's names and adds the faces and both timings
//! (seconds, as floats) as structured fields.

use serde::{Deserialize, Serialize};

use super::{FaceBlurOutput, FaceBox};

/// Where the handler's time went, in seconds (seed 002's client reads seconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// The whole handler: decoding the request image to encoding the answer's base64 PNG.
    pub handler: f64,
    /// Face detection: preparing the detector input, running the model and decoding its outputs.
    pub ml: f64,
}

/// The JSON answer: `{"text": "<handler seconds>", "img": "<base64 PNG>", "faces": [...], "timings":
/// {"handler": s, "ml": s}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceBlurResponse {
    /// The handler's total time in seconds as text, as seed 002's handler put `str(total_time)` there.
    pub text: String,
    /// The blurred frame: base64 (standard alphabet, padded) of a PNG.
    pub img: String,
    /// The faces found (and blurred), in original-image pixels.
    pub faces: Vec<FaceBox>,
    /// Handler and detection times, in seconds.
    pub timings: Timings,
}

impl From<FaceBlurOutput> for FaceBlurResponse {
    fn from(output: FaceBlurOutput) -> Self {
        Self {
            text: output.timings.handler.to_string(),
            img: output.image_base64,
            faces: output.faces,
            timings: output.timings,
        }
    }
}

impl FaceBlurResponse {
    /// The body seed 002's OpenFaaS function produced, which its `client.py` parses line by line:
    ///
    /// ```text
    /// detection : Elapsed ML time: <ml seconds>
    /// Total time: <handler seconds>
    /// {'text': '<text>', 'img': '<base64 PNG>'}
    /// ```
    ///
    /// (`text` is the handler's seconds and base64 has no quotes, so the Python `repr` needs no escaping.)
    pub fn to_seed_text(&self) -> String {
        let Timings { handler, ml } = self.timings;
        let text = self.text.replace(['\'', '\\', '\n'], "");
        format!(
            "detection : Elapsed ML time: {ml}\nTotal time: {handler}\n{{'text': '{text}', 'img': '{}'}}\n",
            self.img
        )
    }
}
