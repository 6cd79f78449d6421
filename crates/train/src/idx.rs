//! MNIST's IDX files: a big-endian header (magic `0x00000803` and three dimensions for images, `0x00000801` and one
//! for labels) then unsigned bytes. Files may be gzipped (`.gz`, as shipped): the reader looks at the first two
//! bytes, so callers need not.
//!
//! Every refusal names the byte offset at fault (in the decompressed data when the file was gzipped): a wrong
//! magic number, a header or data that ends early (the offset where the data ends and where it should have),
//! bytes after the promised data, or images and labels whose counts differ.

use std::io::Read;

/// Magic number of an IDX file of unsigned bytes with three dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with one dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Why bytes are not an IDX file of the kind asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}{}", if *.gzipped { " (offsets in the decompressed data)" } else { "" })]
pub struct IdxError {
    /// The byte offset at fault, when one is.
    pub offset: Option<u64>,
    /// What is wrong, naming the offset.
    pub message: String,
    /// Whether the file was gzipped (offsets then count decompressed bytes).
    pub gzipped: bool,
}

/// Images: `count × rows × cols` grey levels, 0 (background) to 255.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    /// The number of images.
    pub count: usize,
    /// Pixel rows per image.
    pub rows: usize,
    /// Pixel columns per image.
    pub cols: usize,
    /// Row-major pixels, image after image.
    pub pixels: Vec<u8>,
}

impl Images {
    /// The pixels scaled to `0..=1` (the input the shipped `mnist_cnn.onnx` takes).
    pub fn scaled(&self) -> Vec<f32> {
        self.pixels.iter().map(|p| f32::from(*p) / 255.0).collect()
    }
}

/// Reads an images file (magic `0x00000803`), gzipped or not.
pub fn read_images(reader: impl Read) -> Result<Images, IdxError> {
    let (bytes, gzipped) = read_all(reader)?;
    let fail = |offset: u64, message: String| IdxError { offset: Some(offset), message, gzipped };
    let dims = header(&bytes, IMAGES_MAGIC, 3, "IDX images").map_err(|(o, m)| fail(o, m))?;
    let (count, rows, cols) = (dims[0], dims[1], dims[2]);
    let what = format!("{count} images of {rows}×{cols}");
    let pixels = body(&bytes, 16, count * rows * cols, &what).map_err(|(o, m)| fail(o, m))?;
    Ok(Images { count, rows, cols, pixels: pixels.to_vec() })
}

/// Reads a labels file (magic `0x00000801`), gzipped or not.
pub fn read_labels(reader: impl Read) -> Result<Vec<u8>, IdxError> {
    let (bytes, gzipped) = read_all(reader)?;
    let fail = |offset: u64, message: String| IdxError { offset: Some(offset), message, gzipped };
    let dims = header(&bytes, LABELS_MAGIC, 1, "IDX labels").map_err(|(o, m)| fail(o, m))?;
    let labels = body(&bytes, 8, dims[0], &format!("{} labels", dims[0])).map_err(|(o, m)| fail(o, m))?;
    Ok(labels.to_vec())
}

/// Checks that there is one label per image.
pub fn check_pair(images: &Images, labels: &[u8]) -> Result<(), IdxError> {
    if images.count == labels.len() {
        return Ok(());
    }
    Err(IdxError {
        offset: Some(4),
        message: format!(
            "{} images but {} labels (the counts at offset 4 of each file differ)",
            images.count,
            labels.len()
        ),
        gzipped: false,
    })
}

/// The whole input, gunzipped when it starts with gzip's magic bytes.
fn read_all(mut reader: impl Read) -> Result<(Vec<u8>, bool), IdxError> {
    let io = |e: std::io::Error, gzipped| IdxError { offset: None, message: format!("cannot read: {e}"), gzipped };
    let mut raw = Vec::new();
    reader.read_to_end(&mut raw).map_err(|e| io(e, false))?;
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok((raw, false));
    }
    let mut bytes = Vec::new();
    let mut gz = flate2::read::GzDecoder::new(raw.as_slice());
    gz.read_to_end(&mut bytes).map_err(|e| IdxError {
        offset: Some(bytes.len() as u64),
        message: format!("not a valid gzip stream after {} decompressed bytes: {e}", bytes.len()),
        gzipped: true,
    })?;
    Ok((bytes, true))
}

/// The dimensions after the magic number: `dims` big-endian u32s from offset 4.
fn header(bytes: &[u8], magic: u32, dims: usize, what: &str) -> Result<Vec<usize>, (u64, String)> {
    let len = 4 + 4 * dims;
    if bytes.len() < 4 {
        return Err((
            bytes.len() as u64,
            format!("truncated at offset {}: an {what} header is {len} bytes", bytes.len()),
        ));
    }
    let found = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if found != magic {
        return Err((0, format!("bad magic number {found:#010x} at offset 0: expected {magic:#010x} ({what})")));
    }
    if bytes.len() < len {
        return Err((
            bytes.len() as u64,
            format!("truncated at offset {}: an {what} header is {len} bytes", bytes.len()),
        ));
    }
    Ok(bytes[4..len].chunks_exact(4).map(|d| u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize).collect())
}

/// The `size` data bytes from `start`, which must be all the rest.
fn body<'a>(bytes: &'a [u8], start: usize, size: usize, what: &str) -> Result<&'a [u8], (u64, String)> {
    let end = start + size;
    if bytes.len() < end {
        let at = bytes.len();
        return Err((
            at as u64,
            format!("truncated at offset {at}: the header promises {what}, which end at offset {end}"),
        ));
    }
    if bytes.len() > end {
        let extra = bytes.len() - end;
        return Err((
            end as u64,
            format!("{extra} unexpected bytes from offset {end}: the header promises {what}, which end there"),
        ));
    }
    Ok(&bytes[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn images_file(count: u32, rows: u32, cols: u32, pixels: usize) -> Vec<u8> {
        let mut b: Vec<u8> = [IMAGES_MAGIC, count, rows, cols].iter().flat_map(|v| v.to_be_bytes()).collect();
        b.extend((0..pixels).map(|i| (i % 256) as u8));
        b
    }

    #[test]
    fn reads_images_and_labels_plain_or_gzipped() {
        let file = images_file(2, 2, 3, 12);
        let images = read_images(file.as_slice()).unwrap();
        assert_eq!((images.count, images.rows, images.cols), (2, 2, 3));
        assert_eq!(images.pixels, (0..12).collect::<Vec<u8>>());
        assert_eq!(images.scaled()[11], 11.0 / 255.0);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&file).unwrap();
        assert_eq!(read_images(gz.finish().unwrap().as_slice()).unwrap(), images);
        let labels: Vec<u8> = [LABELS_MAGIC, 2].iter().flat_map(|v| v.to_be_bytes()).chain([7, 3]).collect();
        let labels = read_labels(labels.as_slice()).unwrap();
        assert_eq!(labels, [7, 3]);
        check_pair(&images, &labels).unwrap();
    }

    #[test]
    fn refusals_name_the_offset() {
        let labels: Vec<u8> = [LABELS_MAGIC, 2].iter().flat_map(|v| v.to_be_bytes()).chain([7, 3]).collect();
        let e = read_images(labels.as_slice()).unwrap_err();
        assert_eq!(e.to_string(), "bad magic number 0x00000801 at offset 0: expected 0x00000803 (IDX images)");
        assert_eq!(e.offset, Some(0));
        let e = read_images(&images_file(10, 28, 28, 7000)[..]).unwrap_err();
        assert_eq!(e.offset, Some(7016));
        assert!(
            e.to_string()
                .contains("truncated at offset 7016: the header promises 10 images of 28×28, which end at offset 7856"),
            "{e}"
        );
        let e = read_images(&images_file(1, 2, 2, 6)[..]).unwrap_err();
        assert!(e.to_string().starts_with("2 unexpected bytes from offset 20"), "{e}");
        let e = read_labels(&labels[..6]).unwrap_err();
        assert_eq!(e.to_string(), "truncated at offset 6: an IDX labels header is 8 bytes");
        let images = read_images(&images_file(3, 1, 1, 3)[..]).unwrap();
        let e = check_pair(&images, &[1, 2]).unwrap_err();
        assert!(e.to_string().starts_with("3 images but 2 labels"), "{e}");
        let e = read_images(&[0x1f, 0x8b, 8, 0, 0][..]).unwrap_err();
        assert!(e.to_string().contains("not a valid gzip stream"), "{e}");
    }

    #[test]
    fn the_shipped_mnist_split_is_8000_and_2000_digits() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/");
        let open = |name: &str| std::fs::File::open(format!("{dir}{name}")).unwrap();
        let images = read_images(open("mnist-2k-test-images-idx3-ubyte.gz")).unwrap();
        let labels = read_labels(open("mnist-2k-test-labels-idx1-ubyte.gz")).unwrap();
        assert_eq!((images.count, images.rows, images.cols), (2000, 28, 28));
        check_pair(&images, &labels).unwrap();
        assert!(labels.iter().all(|l| *l < 10) && labels[..3] == [5, 7, 5]);
        let train = read_labels(open("mnist-8k-train-labels-idx1-ubyte.gz")).unwrap();
        assert_eq!(train.len(), 8000);
    }
}
