//! Tests against the shared fixtures (`/work/shared/models/fixtures`): MNIST digits and the ImageNet-normalised
//! astronaut. A missing fixture fails the test; nothing is skipped.

use base64::Engine as _;
use image::GenericImageView as _;

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../../../shared/models/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path} must exist: {e}"))
}

fn mnist_spec() -> ImageSpec {
    ImageSpec {
        size: Some((28, 28)),
        color: Color::Gray,
        layout: Layout::Nchw,
        scale: 1.0 / 255.0,
        ..ImageSpec::default()
    }
}

#[test]
fn mnist_png_gives_a_1x1x28x28_tensor_of_its_own_pixels() {
    let png = fixture("mnist_digit0_label3.png");
    let img = decode_image(&png).expect("decodes");
    assert_eq!(img.dimensions(), (28, 28));
    let t = to_tensor(&img, &mnist_spec()).expect("tensor");
    assert_eq!(t.shape, [1, 1, 28, 28]);
    assert_eq!(t.data.len(), 28 * 28);
    assert!(t.data.iter().all(|v| (0.0..=1.0).contains(v)));
    let luma = img.to_luma8();
    for (x, y) in [(0, 0), (14, 14), (10, 20), (27, 27), (5, 13)] {
        let expected = f32::from(luma.get_pixel(x, y)[0]) / 255.0;
        let got = t.data[(y * 28 + x) as usize];
        assert!((got - expected).abs() <= 1e-6, "pixel ({x},{y}): {got} vs {expected}");
    }
    // A digit: some ink, mostly background.
    let ink = t.data.iter().filter(|&&v| v > 0.5).count();
    assert!(ink > 20 && ink < 400, "{ink} ink pixels");
}

#[test]
fn base64_text_and_data_url_give_the_same_tensor() {
    let png = fixture("mnist_digit0_label3.png");
    let raw = to_tensor(&decode_image(&png).expect("raw"), &mnist_spec()).expect("tensor");
    let b64 = base64::engine::general_purpose::STANDARD.encode(&png);
    let from_b64 = to_tensor(&decode_image(b64.as_bytes()).expect("b64"), &mnist_spec()).expect("tensor");
    assert_eq!(raw, from_b64);
    let url = format!("data:image/png;base64,{b64}\n");
    let from_url = to_tensor(&decode_image(url.as_bytes()).expect("data url"), &mnist_spec()).expect("tensor");
    assert_eq!(raw, from_url);
}

/// The fixture is `astronaut_224.png` as RGB, /255, minus ImageNet mean, over ImageNet std, NCHW, no resize.
/// Tolerance: 1e-6 absolute; the measured maximum is 4.8e-7 (f32 rounding: the fixture was computed as
/// `(p / 255 - mean) / std` with the division, ours multiplies by `1/255`).
#[test]
fn astronaut_224_matches_the_imagenet_fixture() {
    const TOL: f32 = 1e-6;
    let img = decode_image(&fixture("astronaut_224.png")).expect("decodes");
    assert_eq!(img.dimensions(), (224, 224));
    let spec = ImageSpec {
        size: Some((224, 224)),
        color: Color::Rgb,
        layout: Layout::Nchw,
        scale: 1.0 / 255.0,
        mean: Some(vec![0.485, 0.456, 0.406]),
        std: Some(vec![0.229, 0.224, 0.225]),
    };
    let t = to_tensor(&img, &spec).expect("tensor");
    assert_eq!(t.shape, [1, 3, 224, 224]);
    let request: serde_json::Value = serde_json::from_slice(&fixture("imagenet224_b1.json")).expect("fixture is JSON");
    let input = &request["inputs"][0];
    assert_eq!(input["shape"], serde_json::json!([1, 3, 224, 224]));
    let expected: Vec<f32> =
        input["data"].as_array().expect("data array").iter().filter_map(|v| v.as_f64().map(|f| f as f32)).collect();
    assert_eq!(expected.len(), t.data.len());
    let max_diff = t.data.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0_f32, f32::max);
    eprintln!("astronaut_224 vs imagenet224_b1.json: max |diff| = {max_diff:e}");
    assert!(max_diff <= TOL, "max |diff| {max_diff} > {TOL}");
}

/// Resizing astronaut_512 to 224 with our filter (Triangle) reproduces astronaut_224.png to within one grey level.
#[test]
fn astronaut_512_resized_is_close_to_the_224_fixture() {
    let img = decode_image(&fixture("astronaut_512.png")).expect("decodes");
    let spec = ImageSpec { size: Some((224, 224)), scale: 1.0 / 255.0, ..ImageSpec::default() };
    let from_512 = to_tensor(&img, &spec).expect("tensor");
    let from_224 = to_tensor(&decode_image(&fixture("astronaut_224.png")).expect("decodes"), &spec).expect("tensor");
    let n = from_512.data.len() as f32;
    let mean_diff: f32 = from_512.data.iter().zip(&from_224.data).map(|(a, b)| (a - b).abs()).sum::<f32>() / n;
    let max_diff = from_512.data.iter().zip(&from_224.data).map(|(a, b)| (a - b).abs()).fold(0.0_f32, f32::max);
    eprintln!("astronaut_512 resized vs astronaut_224: mean |diff| = {mean_diff:e}, max = {max_diff:e}");
    // astronaut_224.png was itself resized from the 512 with a bilinear-like filter: ours lands within one grey
    // level of it everywhere.
    assert!(mean_diff < 1e-3, "mean |diff| {mean_diff}");
    assert!(max_diff <= 1.0 / 255.0 + 1e-6, "max |diff| {max_diff}");
}
