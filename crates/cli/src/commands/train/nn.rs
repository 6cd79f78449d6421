//! `sedge train cnn` (MNIST-format IDX images, a separate test split) and `sedge train mlp` (a CSV file, every
//! Nth row held out): a network from `sedge_train::nn`, trained with Adam, one progress line per epoch on stderr
//! (`epoch 3/10  loss 0.1234  test accuracy 0.9512`), written as ONNX (`input` → `probabilities`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

use sedge_train::data::{CsvOptions, load_csv};
use sedge_train::idx::{Images, check_pair, read_images, read_labels};
use sedge_train::nn::export::{self, INPUT, OUTPUT};
use sedge_train::nn::fit::{Examples, FitParams, Schedule, evaluate, fit};
use sedge_train::nn::layers::Standardize;
use sedge_train::nn::{Net, cnn::cnn, mlp::mlp};

use super::{Trained, map, real, refuse, round, tensor, write_model};

/// Settings both networks train with.
#[derive(Debug, Clone, clap::Args)]
pub struct FitArgs {
    /// Passes over the training set [default: 15 for cnn, 100 for mlp].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Rows per optimizer step.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Adam's step size (the peak, with the cosine schedule) [default: 0.002 for cnn, 0.001 for mlp].
    #[arg(long)]
    pub learning_rate: Option<f32>,
    /// The step size over the run: cosine (annealed to zero by the last step) or constant.
    #[arg(long, default_value = "cosine")]
    pub schedule: ScheduleArg,
    /// Seeds the weights and the shuffles (the same seed trains the same model, whatever --threads).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Threads computing gradients [default: the cores available].
    #[arg(long)]
    pub threads: Option<usize>,
}

/// `--schedule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScheduleArg {
    /// Cosine annealing from the learning rate to zero.
    Cosine,
    /// The learning rate throughout.
    Constant,
}

/// Arguments of `sedge train cnn`.
#[derive(Debug, Clone, clap::Args)]
pub struct CnnArgs {
    /// Training images: an IDX file (magic 0x00000803), gzipped or not.
    #[arg(long)]
    pub train_images: PathBuf,
    /// Training labels: an IDX file (magic 0x00000801), gzipped or not.
    #[arg(long)]
    pub train_labels: PathBuf,
    /// Test images, for the accuracy printed each epoch.
    #[arg(long)]
    pub test_images: PathBuf,
    /// Test labels.
    #[arg(long)]
    pub test_labels: PathBuf,
    /// Output channels of each conv block (3×3 convolution, ReLU, 2×2 max pooling), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "8,16")]
    pub filters: Vec<usize>,
    /// Units of the hidden dense layer.
    #[arg(long, default_value_t = 64)]
    pub hidden: usize,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub fit: FitArgs,
    /// Where to write the ONNX model.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
}

/// Arguments of `sedge train mlp`.
#[derive(Debug, Clone, clap::Args)]
pub struct MlpArgs {
    /// The CSV file (a header row; categorical columns are one-hot encoded; features are standardised).
    #[arg(long)]
    pub data: PathBuf,
    /// The class column: two values (e.g. good/bad), or class numbers 0, 1, 2, …
    #[arg(long)]
    pub target: String,
    /// Columns to leave out (repeatable).
    #[arg(long)]
    pub drop: Vec<String>,
    /// Units of each hidden layer, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "64")]
    pub hidden: Vec<usize>,
    /// Hold out every Nth row for the test metrics (0: none).
    #[arg(long, default_value_t = 5)]
    pub test_every: usize,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub fit: FitArgs,
    /// Where to write the ONNX model.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
}

pub(super) fn train_cnn(args: &CnnArgs) -> Result<Trained> {
    let (train_images, train_labels) = idx_pair(&args.train_images, &args.train_labels)?;
    let (test_images, test_labels) = idx_pair(&args.test_images, &args.test_labels)?;
    let (rows, cols) = (train_images.rows, train_images.cols);
    if (test_images.rows, test_images.cols) != (rows, cols) {
        let (r, c) = (test_images.rows, test_images.cols);
        refuse(&args.test_images, format!("images are {r}×{c}, the training images {rows}×{cols}"));
    }
    let side = 1 << args.filters.len();
    if rows < side || cols < side {
        refuse(
            &args.train_images,
            format!("{rows}×{cols} images are too small for {} pooling blocks", args.filters.len()),
        );
    }
    let classes = train_labels.iter().chain(&test_labels).max().map_or(2, |m| (*m as usize + 1).max(2));
    let mut net = cnn([1, rows, cols], &args.filters, args.hidden, classes, args.fit.seed);
    let (train_x, test_x) = (train_images.scaled(), test_images.scaled());
    let train = Examples { x: &train_x, labels: &train_labels };
    let test = Examples { x: &test_x, labels: &test_labels };
    let (params, metrics) = train_net(&mut net, train, Some(test), &args.fit, (15, 0.002))?;
    let names: Vec<String> = (0..classes).map(|c| c.to_string()).collect();
    let dataset = format!(
        "{} ({} images of {rows}×{cols}), tested on {} ({})",
        args.train_images.display(),
        train_images.count,
        args.test_images.display(),
        test_images.count
    );
    finish_net(&net, &args.out, dataset, metrics, params, &names, None)
}

pub(super) fn train_mlp(args: &MlpArgs) -> Result<Trained> {
    let file = std::fs::File::open(&args.data).with_context(|| format!("opening {}", args.data.display()))?;
    let options = CsvOptions { target: args.target.clone(), drop: args.drop.clone() };
    let data = load_csv(std::io::BufReader::new(file), &options).unwrap_or_else(|e| refuse(&args.data, e));
    let mut labels = Vec::with_capacity(data.rows());
    for (i, y) in data.y.iter().enumerate() {
        if *y < 0.0 || y.fract() != 0.0 || *y > 1000.0 {
            let message = format!("line {}: column {}: {y} is not a class number (0, 1, 2, …)", i + 2, data.target);
            refuse(&args.data, message);
        }
        labels.push(*y as u32);
    }
    let classes = labels.iter().max().map_or(2, |m| (*m as usize + 1).max(2));
    let names: Vec<String> = match (&data.negative, &data.positive) {
        (Some(n), Some(p)) => vec![n.clone(), p.clone()],
        _ => (0..classes).map(|c| c.to_string()).collect(),
    };
    let held_out = |i: usize| args.test_every > 0 && i.is_multiple_of(args.test_every);
    let (train_set, test_set) = (data.select(|i| !held_out(i)), data.select(held_out));
    let pick = |keep: &dyn Fn(usize) -> bool| -> Vec<u32> {
        labels.iter().enumerate().filter(|(i, _)| keep(*i)).map(|(_, l)| *l).collect()
    };
    let (train_labels, test_labels) = (pick(&|i| !held_out(i)), pick(&held_out));
    let features = data.features.len();
    let standardize = Standardize::fit(&train_set.x, features);
    let mut net = mlp(features, &args.hidden, classes, Some(standardize), args.fit.seed);
    let train = Examples { x: &train_set.x, labels: &train_labels };
    let test = (test_set.rows() > 0).then_some(Examples { x: &test_set.x, labels: &test_labels });
    let (params, mut metrics) = train_net(&mut net, train, test, &args.fit, (100, 0.001))?;
    metrics.insert("train_accuracy".into(), round(evaluate(&net, train, threads(&args.fit)).1));
    let dataset = format!(
        "{} (target {}; {} training rows, {} held out, {features} features)",
        args.data.display(),
        data.target,
        train_set.rows(),
        test_set.rows()
    );
    finish_net(&net, &args.out, dataset, metrics, params, &names, Some(&data.features))
}

/// Reads an images file and its labels, exiting 2 for files that are not IDX or do not match.
fn idx_pair(images: &Path, labels: &Path) -> Result<(Images, Vec<u32>)> {
    let open = |p: &Path| std::fs::File::open(p).with_context(|| format!("opening {}", p.display()));
    let read = read_images(std::io::BufReader::new(open(images)?)).unwrap_or_else(|e| refuse(images, e));
    let classes = read_labels(std::io::BufReader::new(open(labels)?)).unwrap_or_else(|e| refuse(labels, e));
    check_pair(&read, &classes).unwrap_or_else(|e| refuse(labels, format!("{e}, against {}", images.display())));
    Ok((read, classes.into_iter().map(u32::from).collect()))
}

fn threads(fit: &FitArgs) -> usize {
    fit.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1)
}

/// Trains with a progress line per epoch (epochs and learning rate defaulting to `defaults`); returns the params
/// and metrics maps.
fn train_net(
    net: &mut Net,
    train: Examples<'_>,
    test: Option<Examples<'_>>,
    args: &FitArgs,
    defaults: (usize, f32),
) -> Result<(Map<String, Value>, Map<String, Value>)> {
    let p = FitParams {
        epochs: args.epochs.unwrap_or(defaults.0),
        batch_size: args.batch_size,
        learning_rate: args.learning_rate.unwrap_or(defaults.1),
        schedule: match args.schedule {
            ScheduleArg::Cosine => Schedule::Cosine,
            ScheduleArg::Constant => Schedule::Constant,
        },
        seed: args.seed,
        threads: threads(args),
    };
    eprintln!(
        "training {} ({} parameters) on {} rows, {} epochs of batches of {}, {} thread(s)",
        net.describe(),
        net.parameter_count(),
        train.rows(),
        p.epochs,
        p.batch_size,
        p.threads
    );
    let started = Instant::now();
    let mut evaluating = Duration::ZERO;
    let mut last = (f64::NAN, None);
    fit(net, train, &p, &mut |net, e| {
        let t = Instant::now();
        let tested = test.map(|test| evaluate(net, test, p.threads));
        evaluating += t.elapsed();
        match tested {
            Some((_, accuracy)) => {
                eprintln!("epoch {}/{}  loss {:.4}  test accuracy {accuracy:.4}", e.epoch, p.epochs, e.loss)
            }
            None => eprintln!("epoch {}/{}  loss {:.4}", e.epoch, p.epochs, e.loss),
        }
        last = (e.loss, tested);
        true
    });
    let seconds = (started.elapsed() - evaluating).as_secs_f64();
    let mut metrics = map([("train_loss", round(last.0))]);
    if let Some((loss, accuracy)) = last.1 {
        metrics.insert("test_loss".into(), round(loss));
        metrics.insert("test_accuracy".into(), round(accuracy));
    }
    metrics.insert("train_seconds".into(), round(seconds));
    let params = map([
        ("epochs", json!(p.epochs)),
        ("batch_size", json!(p.batch_size)),
        ("learning_rate", real(p.learning_rate)),
        ("schedule", json!(format!("{:?}", p.schedule).to_lowercase())),
        ("optimizer", json!("adam")),
        ("seed", json!(p.seed)),
        ("threads", json!(p.threads)),
        ("parameters", json!(net.parameter_count())),
    ]);
    Ok((params, metrics))
}

/// Writes the ONNX model (metadata: classes, architecture, metrics) and describes it.
fn finish_net(
    net: &Net,
    out: &Path,
    dataset: String,
    metrics: Map<String, Value>,
    params: Map<String, Value>,
    classes: &[String],
    features: Option<&[String]>,
) -> Result<Trained> {
    let mut metadata = vec![("classes".to_string(), classes.join(",")), ("architecture".to_string(), net.describe())];
    if let Some(features) = features {
        metadata.push(("features".to_string(), features.join(",")));
    }
    metadata.extend(metrics.iter().map(|(k, v)| (k.clone(), v.to_string())));
    write_model(out, &export::export(net, &metadata))?;
    let mut input = vec![-1];
    input.extend(net.input.iter().map(|d| *d as i64));
    let mut signature = json!({
        "inputs": [tensor(INPUT, "FP32", &input)],
        "outputs": [tensor(OUTPUT, "FP32", &[-1, net.classes() as i64])],
        "classes": classes,
    });
    if let Some(features) = features {
        signature["features"] = json!(features);
    }
    Ok(Trained { path: out.to_path_buf(), architecture: net.describe(), dataset, metrics, params, signature })
}
