//! Unit tests: spec parsing, layouts, decode errors (and a proptest that arbitrary bytes never panic),
//! softmax, top-k, labels.

use image::{DynamicImage, ImageBuffer, Rgb};
use proptest::prelude::*;

use super::*;

#[test]
fn spec_parses_the_spec_sketch() {
    let yaml = "{ size: [28, 28], color: gray, layout: NCHW, scale: 0.00392157 }";
    let spec: ImageSpec = serde_yaml::from_str(yaml).expect("parses");
    assert_eq!(spec.size, Some((28, 28)));
    assert_eq!((spec.color, spec.layout), (Color::Gray, Layout::Nchw));
    assert!((spec.scale - 1.0 / 255.0).abs() < 1e-7);
    let spec: ImageSpec =
        serde_yaml::from_str("{ color: BGR, layout: nhwc, mean: [1, 2, 3], std: [4] }").expect("parses");
    assert_eq!((spec.color, spec.layout, spec.scale), (Color::Bgr, Layout::Nhwc, 1.0));
    assert!(serde_yaml::from_str::<ImageSpec>("{ colour: gray }").is_err());
    let out: OutputSpec = serde_yaml::from_str("{ softmax: true, topK: 3, labels: ./labels.txt }").expect("parses");
    assert_eq!(out, OutputSpec { softmax: true, top_k: Some(3), labels: Some("./labels.txt".into()) });
}

fn rgb_2x1() -> DynamicImage {
    // Pixel (0,0) = (10,20,30), (1,0) = (40,50,60).
    DynamicImage::ImageRgb8(ImageBuffer::from_fn(
        2,
        1,
        |x, _| if x == 0 { Rgb([10, 20, 30]) } else { Rgb([40, 50, 60]) },
    ))
}

#[test]
fn layouts_colour_order_and_value_pipeline() {
    let img = rgb_2x1();
    let nchw = to_tensor(&img, &ImageSpec::default()).expect("nchw");
    assert_eq!(nchw.shape, [1, 3, 1, 2]);
    assert_eq!(nchw.data, [10.0, 40.0, 20.0, 50.0, 30.0, 60.0]);
    let nhwc = to_tensor(&img, &ImageSpec { layout: Layout::Nhwc, ..ImageSpec::default() }).expect("nhwc");
    assert_eq!(nhwc.shape, [1, 1, 2, 3]);
    assert_eq!(nhwc.data, [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]);
    let bgr = ImageSpec {
        color: Color::Bgr,
        layout: Layout::Nhwc,
        scale: 0.5,
        mean: Some(vec![1.0, 2.0, 3.0]),
        std: Some(vec![2.0]),
        ..ImageSpec::default()
    };
    // (p * 0.5 - mean[c]) / 2 with channels B, G, R.
    assert_eq!(to_tensor(&img, &bgr).expect("bgr").data, [7.0, 4.0, 1.0, 14.5, 11.5, 8.5]);
    let gray = to_tensor(&img, &ImageSpec { color: Color::Gray, size: Some((4, 3)), ..ImageSpec::default() });
    assert_eq!(gray.expect("gray").shape, [1, 1, 3, 4]);
}

#[test]
fn bad_specs_are_errors() {
    let img = rgb_2x1();
    for spec in [
        ImageSpec { size: Some((0, 5)), ..ImageSpec::default() },
        ImageSpec { mean: Some(vec![1.0, 2.0]), ..ImageSpec::default() },
        ImageSpec { std: Some(vec![1.0, 0.0, 1.0]), ..ImageSpec::default() },
        ImageSpec { scale: f32::NAN, ..ImageSpec::default() },
    ] {
        let err = to_tensor(&img, &spec).expect_err("invalid");
        assert!(matches!(err, PrepError::InvalidSpec(_)), "{err}");
        assert_eq!(err.status(), 400);
    }
}

fn png_bytes(w: u32, h: u32) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    DynamicImage::new_rgb8(w, h).write_to(&mut out, image::ImageFormat::Png).expect("encode");
    out.into_inner()
}

#[test]
fn bad_inputs_are_errors() {
    assert_eq!(decode_image(b""), Err(PrepError::Empty).map(|_: ()| unreachable!()));
    assert!(matches!(decode_image(b"  \n"), Err(PrepError::Empty)));
    assert!(matches!(decode_image(b"hello, world!"), Err(PrepError::NotAnImage(_))));
    assert!(matches!(decode_image(b"aGVsbG8="), Err(PrepError::NotAnImage(_))), "base64 of non-image");
    assert!(matches!(decode_image(b"data:text/plain,hi"), Err(PrepError::NotAnImage(_))));
    let png = png_bytes(16, 16);
    assert!(decode_image(&png).is_ok());
    for cut in [8, 20, 33, png.len() / 2, png.len() - 13] {
        // Cuts stop before IEND: a partly cut IEND trailer after complete pixels is tolerated by the decoder.
        let Err(err) = decode_image(&png[..cut]) else { panic!("cut at {cut} of {} decoded", png.len()) };
        assert!(matches!(err, PrepError::Decode(_)), "cut at {cut}: {err}");
        assert_eq!(err.status(), 400);
    }
    let mut corrupt = png.clone();
    corrupt[40..60].fill(0xAB);
    assert!(decode_image(&corrupt).is_err());
    assert!(matches!(decode_image(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]), Err(PrepError::Decode(_))));
}

#[test]
fn oversized_images_are_refused_before_decoding() {
    let png = png_bytes(100, 100);
    let limits = DecodeLimits { max_pixels: 9_999 };
    let err = decode_image_with(&png, &limits).expect_err("too large");
    assert_eq!(err, PrepError::TooLarge { width: 100, height: 100, max_pixels: 9_999 });
    assert_eq!(err.status(), 413);
    assert!(decode_image_with(&png, &DecodeLimits { max_pixels: 10_000 }).is_ok());
    // A PNG header claiming 100000 x 100000 with no data is refused by the limit, not allocated.
    let mut huge = png.clone();
    huge[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    huge[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    assert!(decode_image(&huge).is_err());
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_image(&bytes);
    }

    #[test]
    fn corrupted_png_never_panics(pos in 0usize..200, byte in any::<u8>(), cut in 0usize..400) {
        let mut png = png_bytes(8, 8);
        let pos = pos % png.len();
        png[pos] = byte;
        png.truncate(cut.max(1));
        let _ = decode_image(&png);
    }
}

#[test]
fn softmax_is_stable_and_sums_to_one() {
    let p = softmax(&[1000.0, 1001.0, 1002.0]);
    assert!(p.iter().all(|v| v.is_finite()));
    assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    assert!(p[2] > p[1] && p[1] > p[0]);
    assert!(softmax(&[]).is_empty());
}

#[test]
fn top_k_orders_and_labels_each_row() {
    let post = Postprocess { softmax: true, top_k: Some(2), labels: Some(parse_labels("cat\ndog\nbird\n")) };
    let rows = post.apply(&[0.1, 3.0, 2.0, 5.0, 1.0, 1.0], 3).expect("applies");
    assert_eq!(rows.len(), 2);
    let first: Vec<(usize, Option<&str>)> = rows[0].iter().map(|p| (p.index, p.label)).collect();
    assert_eq!(first, [(1, Some("dog")), (2, Some("bird"))]);
    assert_eq!((rows[1][0].index, rows[1][1].index), (0, 1), "ties keep index order");
    assert!(rows[0][0].score > rows[0][1].score && rows[0][0].score < 1.0);
    let plain = Postprocess::default();
    let all = plain.apply(&[0.2, 0.5], 2).expect("applies");
    assert_eq!(
        all[0].iter().map(|p| (p.index, p.label, p.score)).collect::<Vec<_>>(),
        [(1, None, 0.5), (0, None, 0.2)]
    );
    let short = Postprocess { top_k: Some(9), labels: Some(vec!["a".into()]), ..Postprocess::default() };
    let rows = short.apply(&[1.0, 2.0], 2).expect("applies");
    assert_eq!((rows[0].len(), rows[0][0].label, rows[0][1].label), (2, None, Some("a")));
    for classes in [0, 4] {
        let err = post.apply(&[1.0, 2.0, 3.0], classes).expect_err("bad shape");
        assert_eq!(err.status(), 500);
    }
}

#[test]
fn labels_file_parsing() {
    assert_eq!(parse_labels("\u{feff} zero \r\none\n\nthree\n\n"), ["zero", "one", "", "three"]);
    assert!(parse_labels("").is_empty());
    assert_eq!(parse_labels("only"), ["only"]);
}
