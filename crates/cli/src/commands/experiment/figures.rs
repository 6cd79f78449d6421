//! Number formats and sample statistics the experiment reports share, and the facts about the machine every
//! report states (figures without their machine are not comparable).

use std::time::{SystemTime, UNIX_EPOCH};

/// `12.3 ms` with three significant digits (`0.412 ms`, `1,234 ms` for the large ones).
pub fn ms(value: f64) -> String {
    format!("{} ms", sig3(value))
}

/// `1,712 req/s`.
pub fn rate(value: f64) -> String {
    format!("{} req/s", sig3(value))
}

/// A fraction as a percentage: `sedge bench`'s format (`0.12%`, `100%`).
pub use sedge_bench::out::text::format_percent as percent;

/// The `q` quantile of `values` (nearest rank: the smallest value with at least `q` of them at or below); NaN
/// when empty.
pub fn quantile(values: impl IntoIterator<Item = f64>, q: f64) -> f64 {
    let mut sorted: Vec<f64> = values.into_iter().collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The arithmetic mean; NaN when empty.
pub fn mean(values: impl IntoIterator<Item = f64>) -> f64 {
    let (sum, n) = values.into_iter().fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

/// Three significant digits, thousands separated by commas, no exponent.
pub fn sig3(value: f64) -> String {
    if !value.is_finite() {
        return "—".to_string();
    }
    let magnitude = if value == 0.0 { 0 } else { value.abs().log10().floor() as i32 };
    let mut decimals = (2 - magnitude).max(0) as usize;
    let mut text = format!("{value:.decimals$}");
    // 0.9996 rounds up to 1.000: one digit too many for the new magnitude.
    if decimals > 0 && text.trim_start_matches('-').parse::<f64>().is_ok_and(|r| r >= 10f64.powi(magnitude + 1)) {
        decimals -= 1;
        text = format!("{value:.decimals$}");
    }
    let (int, frac) = text.split_once('.').map_or((text.as_str(), None), |(i, f)| (i, Some(f)));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// CPU model and count, memory, sedge's version, the date, and the run's size.
pub fn machine_facts(full: bool) -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim().to_string()))
        .unwrap_or_else(|| "unknown".to_string());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.split_whitespace().next()?.parse::<f64>().ok())
        .map_or("unknown".to_string(), |kib| format!("{:.0} GiB", kib / 1024.0 / 1024.0));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    vec![
        ("machine".to_string(), format!("{model}, {cores} cores, {memory_gib}")),
        ("sedge".to_string(), env!("CARGO_PKG_VERSION").to_string()),
        ("date".to_string(), humantime::format_rfc3339_seconds(UNIX_EPOCH + now).to_string()),
        ("size".to_string(), if full { "full (the seed's)" } else { "scaled down (default)" }.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles_and_means() {
        let v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(quantile(v, 0.5), 3.0);
        assert_eq!(quantile(v, 0.9), 5.0);
        assert_eq!(quantile(v, 0.0), 1.0);
        assert!(quantile([], 0.5).is_nan());
        assert_eq!(mean(v), 3.0);
        assert!(mean([]).is_nan());
    }

    #[test]
    fn three_significant_digits_with_thousands_separators() {
        assert_eq!(sig3(0.41234), "0.412");
        assert_eq!(sig3(12.345), "12.3");
        assert_eq!(sig3(712.4), "712");
        assert_eq!(sig3(1712.4), "1,712");
        assert_eq!(sig3(727016.0), "727,016");
        assert_eq!(sig3(0.0), "0.00");
        assert_eq!(sig3(0.9996), "1.00");
        assert_eq!(sig3(99.96), "100");
        assert_eq!(sig3(-1234.0), "-1,234");
        assert_eq!(sig3(f64::NAN), "—");
        assert_eq!(ms(70.8), "70.8 ms");
        assert_eq!(percent(0.001), "0.1%");
    }
}
