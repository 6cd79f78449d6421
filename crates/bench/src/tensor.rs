//! Generated tensors as request bodies: `--tensor NAME:DATATYPE:SHAPE` (e.g. `input:FP32:1x1x28x28`) becomes an
//! Open Inference Protocol v2 infer request, `{"inputs": [{"name", "datatype", "shape", "data"}]}`, filled with
//! pseudo-random values (`FP32`/`FP64` in [0, 1), integers in [0, 255], `BOOL` true or false) from a seed, so a
//! run can send several distinct bodies that are still the same from run to run.

use serde_json::json;

use crate::parse::ParseError;

/// The most elements a generated tensor may have (16 Mi): beyond that, a JSON body is the wrong tool.
const MAX_ELEMENTS: usize = 16 << 20;

/// The datatypes a tensor can be generated in (OIP v2 names).
const DATATYPES: [&str; 8] = ["BOOL", "UINT8", "INT8", "INT16", "INT32", "INT64", "FP32", "FP64"];

/// A tensor to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// The input's name.
    pub name: String,
    /// OIP v2 datatype, upper case.
    pub datatype: &'static str,
    /// Dimensions.
    pub shape: Vec<usize>,
}

/// Parses `NAME:DATATYPE:SHAPE`, SHAPE as dimensions joined by `x` or `,` (`1x1x28x28`).
pub fn parse(text: &str) -> Result<TensorSpec, ParseError> {
    let err = |why: String| ParseError::new("tensor", text, why);
    let parts: Vec<&str> = text.trim().split(':').collect();
    let [name, datatype, shape] = parts[..] else {
        return Err(err("use NAME:DATATYPE:SHAPE, e.g. input:FP32:1x1x28x28".into()));
    };
    if name.is_empty() {
        return Err(err("the input name is empty".into()));
    }
    let upper = datatype.to_ascii_uppercase();
    let datatype = DATATYPES
        .iter()
        .find(|d| **d == upper)
        .ok_or_else(|| err(format!("datatype {datatype:?} is not one of {}", DATATYPES.join(", "))))?;
    let shape = shape
        .split(['x', ','])
        .map(|d| d.trim().parse::<usize>().ok().filter(|d| *d > 0))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| err(format!("shape {shape:?}: use positive dimensions joined by x, e.g. 1x3x224x224")))?;
    let elements = shape.iter().try_fold(1usize, |n, d| n.checked_mul(*d)).filter(|n| *n <= MAX_ELEMENTS);
    if elements.is_none() {
        return Err(err(format!("more than {MAX_ELEMENTS} elements")));
    }
    Ok(TensorSpec { name: name.to_string(), datatype, shape })
}

impl TensorSpec {
    /// The number of elements.
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// An OIP v2 infer request with this tensor, values drawn from `seed`.
    pub fn body(&self, seed: u64) -> String {
        let mut rng = SplitMix64(seed);
        let n = self.elements();
        let data: Vec<serde_json::Value> = match self.datatype {
            "FP32" => (0..n).map(|_| json!(rng.unit() as f32)).collect(),
            "FP64" => (0..n).map(|_| json!(rng.unit())).collect(),
            "BOOL" => (0..n).map(|_| json!(rng.next() & 1 == 1)).collect(),
            _ => (0..n).map(|_| json!(rng.next() % 256)).collect(),
        };
        json!({"inputs": [{"name": self.name, "datatype": self.datatype, "shape": self.shape, "data": data}]})
            .to_string()
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, well-mixed generator; the bodies only need to differ and to be
/// the same for the same seed, which `rand` would give at the price of a dependency for four lines.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform value in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_name_datatype_and_shape() {
        let t = parse("input:fp32:1x1x28x28").unwrap();
        assert_eq!(t, TensorSpec { name: "input".into(), datatype: "FP32", shape: vec![1, 1, 28, 28] });
        assert_eq!(parse("x:INT64:2,3").unwrap().elements(), 6);
    }

    #[test]
    fn refuses_bad_tensors_naming_the_piece() {
        for (text, why) in [
            ("input:FP32", "NAME:DATATYPE:SHAPE"),
            (":FP32:1", "name is empty"),
            ("x:FP16:1", "\"FP16\" is not one of"),
            ("x:FP32:1x0", "positive dimensions"),
            ("x:FP32:1xa", "positive dimensions"),
            ("x:FP32:100000x100000", "elements"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.text, text);
            assert!(e.to_string().contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn bodies_are_oip_requests_with_every_element_in_range() {
        let t = parse("input:FP32:2x3").unwrap();
        let body: serde_json::Value = serde_json::from_str(&t.body(7)).unwrap();
        let input = &body["inputs"][0];
        assert_eq!(input["name"], "input");
        assert_eq!(input["datatype"], "FP32");
        assert_eq!(input["shape"], json!([2, 3]));
        let data = input["data"].as_array().unwrap();
        assert_eq!(data.len(), 6);
        assert!(data.iter().all(|v| v.as_f64().is_some_and(|v| (0.0..1.0).contains(&v))));
        let ints: serde_json::Value = serde_json::from_str(&parse("x:UINT8:16").unwrap().body(1)).unwrap();
        assert!(ints["inputs"][0]["data"].as_array().unwrap().iter().all(|v| v.as_u64().is_some_and(|v| v < 256)));
    }

    #[test]
    fn the_same_seed_gives_the_same_body_and_another_seed_another() {
        let t = parse("input:FP32:1x8").unwrap();
        assert_eq!(t.body(3), t.body(3));
        assert_ne!(t.body(3), t.body(4));
    }
}
