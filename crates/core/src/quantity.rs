//! Kubernetes resource quantities as they appear in `limits` and `requests`: memory (`128Mi`, `1G`, `512000`)
//! and CPU (`100m`, `0.5`, `2`).
//!
//! Written by hand: the grammar is small and the only crate for it (`k8s-openapi`'s) would pull in the whole
//! Kubernetes API.

use crate::SpecError;

/// Parses a memory quantity into bytes.
pub fn parse_memory(value: &str) -> Result<u64, SpecError> {
    let (number, suffix) = split_number(value)?;
    let multiplier: f64 = match suffix {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(not_a_quantity(value)),
    };
    let bytes = number * multiplier;
    if bytes.is_finite() && bytes < u64::MAX as f64 { Ok(bytes.round() as u64) } else { Err(not_a_quantity(value)) }
}

/// Parses a CPU quantity into millicores (`100m` → 100, `0.5` → 500).
pub fn parse_cpu(value: &str) -> Result<u64, SpecError> {
    let (number, suffix) = split_number(value)?;
    let millis = match suffix {
        "" => number * 1000.0,
        "m" => number,
        _ => return Err(not_a_quantity(value)),
    };
    if millis.is_finite() && millis < u64::MAX as f64 { Ok(millis.round() as u64) } else { Err(not_a_quantity(value)) }
}

fn split_number(value: &str) -> Result<(f64, &str), SpecError> {
    let value = value.trim();
    let end = value.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(value.len());
    let number: f64 = value[..end].parse().map_err(|_| not_a_quantity(value))?;
    Ok((number, &value[end..]))
}

fn not_a_quantity(value: &str) -> SpecError {
    SpecError::new("", format!("{value:?} is not a quantity (examples: \"128Mi\", \"1G\", \"100m\", \"0.5\")"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory() {
        assert_eq!(parse_memory("128Mi").unwrap(), 128 * 1024 * 1024);
        assert_eq!(parse_memory("1G").unwrap(), 1_000_000_000);
        assert_eq!(parse_memory("512000").unwrap(), 512_000);
        let e = parse_memory("12x").unwrap_err();
        assert_eq!(e.to_string(), "\"12x\" is not a quantity (examples: \"128Mi\", \"1G\", \"100m\", \"0.5\")");
        assert!(parse_memory("").is_err());
        assert!(parse_memory("Mi").is_err());
    }

    #[test]
    fn cpu() {
        assert_eq!(parse_cpu("100m").unwrap(), 100);
        assert_eq!(parse_cpu("0.5").unwrap(), 500);
        assert_eq!(parse_cpu("2").unwrap(), 2000);
        assert!(parse_cpu("2Gi").is_err());
    }
}
