//! `face-blur` (seed 002): a client cuts a video into PNG frames and POSTs each, base64-encoded, to the
//! face-blur function, sleeping before each POST; a JMeter-style grid of users × sleep gives the success rate
//! and the mean and median response time, and each frame's round trip is split into the handler's time and the
//! ML (detection) time, both reported by the function.
//!
//! The "video" is a camera pan over `astronaut_512.png` from the data folder: a square window sliding across
//! the picture, one PNG per frame (decoding a real video file is left out: it would add a codec dependency for
//! no different load).

use std::io::Cursor;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use base64::Engine as _;
use bytes::Bytes;
use sedge_bench::report::{Chart, ChartKind, Comparison, Report, Series, Table};

use super::examples;
use super::figures::{mean, ms, percent, quantile};
use super::lab::Lab;

/// The seed's client and function timeout.
const TIMEOUT: Duration = Duration::from_secs(25);

/// The grid and the video.
struct Plan {
    users: Vec<u32>,
    sleeps: Vec<Duration>,
    frames: usize,
    side: u32,
}

impl Plan {
    fn new(full: bool) -> Self {
        if full {
            Self {
                users: vec![1, 5, 10, 20],
                sleeps: vec![Duration::ZERO, Duration::from_secs(1), Duration::from_secs(5)],
                frames: 100,
                side: 384,
            }
        } else {
            Self { users: vec![1, 4], sleeps: vec![Duration::ZERO, Duration::from_secs(1)], frames: 12, side: 320 }
        }
    }
}

/// One frame's answer.
#[derive(Debug, Clone, Copy)]
struct Frame {
    ok: bool,
    round_trip_ms: f64,
    handler_ms: f64,
    ml_ms: f64,
}

/// One cell of the grid.
struct Cell {
    users: u32,
    sleep: Duration,
    frames: Vec<Frame>,
}

/// Runs the grid.
pub async fn run(lab: &Lab, full: bool) -> Result<Report> {
    let plan = Plan::new(full);
    let picture = std::fs::read(lab.data.join("astronaut_512.png")).context("the data folder's astronaut_512.png")?;
    let frames = tokio::task::spawn_blocking({
        let (count, side) = (plan.frames, plan.side);
        move || video(&picture, count, side)
    })
    .await??;
    eprintln!("  deploying face-blur; {} frames of {}×{}", frames.len(), plan.side, plan.side);
    lab.deploy(examples::FACE_BLUR.dir, examples::FACE_BLUR.file, &examples::FACE_BLUR.files(&lab.models, &lab.url))
        .await?;
    lab.wait_ready("face-blur", 1).await?;
    // One call first, as the seed's first frame: the model is loaded at deploy, so this one is warm too.
    send(lab, &frames[0]).await?;
    let mut cells = Vec::new();
    for &users in &plan.users {
        for &sleep in &plan.sleeps {
            eprintln!("  {users} users, sleep {} ms before each POST", sleep.as_millis());
            cells.push(Cell { users, sleep, frames: cell(lab, &frames, users, sleep).await? });
        }
    }
    Ok(report(&plan, &cells))
}

/// `count` PNG frames of `side`×`side`, base64-encoded: a window panning diagonally across the picture.
fn video(picture: &[u8], count: usize, side: u32) -> Result<Vec<Bytes>> {
    let image = image::load_from_memory(picture).context("decoding the picture")?.to_rgb8();
    let (w, h) = image.dimensions();
    let side = side.min(w).min(h);
    let steps = count.max(2) as u32 - 1;
    (0..count as u32)
        .map(|i| {
            let (x, y) = ((w - side) * i / steps, (h - side) * i / steps);
            let frame = image::imageops::crop_imm(&image, x, y, side, side).to_image();
            let mut png = Vec::new();
            frame.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png).context("encoding a frame")?;
            Ok(Bytes::from(base64::engine::general_purpose::STANDARD.encode(png)))
        })
        .collect()
}

/// Every user sends every frame in order, sleeping `sleep` before each POST.
async fn cell(lab: &Lab, frames: &[Bytes], users: u32, sleep: Duration) -> Result<Vec<Frame>> {
    let tasks: Vec<_> = (0..users)
        .map(|_| {
            let (frames, url) = (frames.to_vec(), lab.function_url("face-blur"));
            tokio::spawn(async move {
                let http = reqwest::Client::builder().timeout(TIMEOUT).build()?;
                let mut out = Vec::new();
                for frame in frames {
                    tokio::time::sleep(sleep).await;
                    out.push(post(&http, &url, frame).await);
                }
                anyhow::Ok(out)
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    Ok(all)
}

async fn send(lab: &Lab, frame: &Bytes) -> Result<Frame> {
    let http = reqwest::Client::builder().timeout(TIMEOUT).build()?;
    let f = post(&http, &lab.function_url("face-blur"), frame.clone()).await;
    anyhow::ensure!(f.ok, "the face-blur function did not answer the first frame");
    Ok(f)
}

/// One POST; a failure (status, timeout, unreadable answer) is a frame with `ok: false`.
async fn post(http: &reqwest::Client, url: &str, frame: Bytes) -> Frame {
    let started = Instant::now();
    let answer = async {
        let r = http.post(url).header("Accept", "application/json").body(frame).send().await?;
        let r = r.error_for_status()?;
        anyhow::Ok(r.json::<serde_json::Value>().await?)
    }
    .await;
    let round_trip_ms = started.elapsed().as_secs_f64() * 1000.0;
    match answer {
        Ok(v) => Frame {
            ok: v["img"].is_string(),
            round_trip_ms,
            handler_ms: v["timings"]["handler"].as_f64().unwrap_or(f64::NAN) * 1000.0,
            ml_ms: v["timings"]["ml"].as_f64().unwrap_or(f64::NAN) * 1000.0,
        },
        Err(_) => Frame { ok: false, round_trip_ms, handler_ms: f64::NAN, ml_ms: f64::NAN },
    }
}

fn report(plan: &Plan, cells: &[Cell]) -> Report {
    let mut grid = Table::new(
        "Users × sleep before POST",
        &[
            "users",
            "sleep before POST",
            "frames",
            "success",
            "mean response",
            "median response",
            "mean handler",
            "mean ML",
        ],
    );
    for c in cells {
        let ok = || c.frames.iter().filter(|f| f.ok);
        let success = ok().count() as f64 / c.frames.len().max(1) as f64;
        grid.row(vec![
            c.users.to_string(),
            format!("{} ms", c.sleep.as_millis()),
            c.frames.len().to_string(),
            percent(success),
            ms(mean(ok().map(|f| f.round_trip_ms))),
            ms(quantile(ok().map(|f| f.round_trip_ms), 0.5)),
            ms(mean(ok().map(|f| f.handler_ms))),
            ms(mean(ok().map(|f| f.ml_ms))),
        ]);
    }
    let single = &cells[0];
    let mut per_frame = Table::new(
        format!("Per frame, {} user, sleep {} ms", single.users, single.sleep.as_millis()),
        &["frame", "round trip", "handler", "ML"],
    );
    for (i, f) in single.frames.iter().enumerate() {
        per_frame.row(vec![(i + 1).to_string(), ms(f.round_trip_ms), ms(f.handler_ms), ms(f.ml_ms)]);
    }
    let line = |name: &str, pick: fn(&Frame) -> f64| {
        Series::line(name, single.frames.iter().enumerate().map(|(i, f)| ((i + 1) as f64, pick(f))).collect())
    };
    let bars: Vec<(String, f64)> = cells
        .iter()
        .map(|c| {
            let label = format!("{}u/{}ms", c.users, c.sleep.as_millis());
            (label, mean(c.frames.iter().filter(|f| f.ok).map(|f| f.round_trip_ms)))
        })
        .collect();
    let all_ok = cells.iter().flat_map(|c| &c.frames).filter(|f| f.ok).count();
    let all = cells.iter().map(|c| c.frames.len()).sum::<usize>();
    let one_user: Vec<&Frame> = cells.iter().filter(|c| c.users == 1).flat_map(|c| &c.frames).collect();
    let one_user_ok = one_user.iter().filter(|f| f.ok).count();
    let one_user = one_user.len();
    let first = single.frames.first().map_or(f64::NAN, |f| f.round_trip_ms);
    let later = quantile(single.frames.iter().skip(1).map(|f| f.round_trip_ms), 0.5);
    Report {
        title: "face-blur: video frames POSTed as base64 to a face-blur function".into(),
        description: vec![format!(
            "A {side}×{side} window pans across astronaut_512.png in {n} frames; each is PNG-encoded, base64'd and \
             POSTed to the face-blur model function (CenterFace + blur, served in-process) with Accept: \
             application/json, so the answer carries the handler's and the detector's times. Each cell of the grid \
             has every user send every frame in order, sleeping before each POST; a frame fails on a non-2xx \
             answer, a missing image or the seed's 25 s timeout.",
            side = plan.side,
            n = plan.frames
        )],
        facts: vec![
            ("frames per user".into(), plan.frames.to_string()),
            ("grid".into(), format!("users {:?} × sleep {:?}", plan.users, plan.sleeps)),
        ],
        comparison: vec![
            Comparison {
                metric: "success rate, 1 user".into(),
                seed: "1 (sleep 0, 1 and 5 s)".into(),
                sedge: percent(one_user_ok as f64 / one_user.max(1) as f64),
                note: "seed 002, slide \"Elapsed Time per Frame: 1 Thread(s)\"; one replica, 25 s timeouts".into(),
            },
            Comparison {
                metric: "success rate, more users".into(),
                seed: "below 1: POSTs timed out at the 25 s default (chart only)".into(),
                sedge: percent(all_ok as f64 / all.max(1) as f64),
                note: "seed 002, \"Success Rate over Number of Threads/Sleep Time\"; sedge: every cell".into(),
            },
            Comparison {
                metric: "first frame round trip".into(),
                seed: "high: handler initialisation (chart only)".into(),
                sedge: ms(first),
                note: "seed 002 loads the interpreter and a 22 MB model per request; sedge keeps the model loaded"
                    .into(),
            },
            Comparison {
                metric: "later frames, median round trip".into(),
                seed: "— (charts only)".into(),
                sedge: ms(later),
                note: "seed 002 on a 2-core Xeon Silver 4114 VM; ML time varied little next to the handler's".into(),
            },
        ],
        tables: vec![grid, per_frame],
        charts: vec![
            Chart {
                title: format!("Per frame, {} user, sleep {} ms", single.users, single.sleep.as_millis()),
                x_label: "frame".into(),
                y_label: "time (ms)".into(),
                kind: ChartKind::Line,
                series: vec![
                    line("round trip", |f| f.round_trip_ms),
                    line("handler", |f| f.handler_ms),
                    line("ML", |f| f.ml_ms),
                ],
            },
            Chart {
                title: "Mean response time per grid cell".into(),
                x_label: "users / sleep".into(),
                y_label: "mean response (ms)".into(),
                kind: ChartKind::Bar,
                series: vec![Series::bars("mean response", &bars)],
            },
        ],
    }
}
