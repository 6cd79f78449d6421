//! The engine call behind a model's [`Batcher`](crate::batch::Batcher): requests (each its inputs, each with a
//! leading batch dimension of one or more rows) are concatenated into one engine batch, run, and the outputs
//! split back by rows. Pure apart from the engine call.
//!
//! Requests join the same engine call only when their inputs agree on every dimension but the batch (an image
//! model with dynamic H/W gets one call per size) and the rows fit the engine's largest batch; a request larger
//! than that runs alone, in chunks.

use crate::engine::{Engine, EngineError, Shaped};
use crate::oip::TensorData;

/// Runs `items` (each one request's inputs in the engine's order) on `engine` in as few calls as the shapes and
/// `max_rows` allow; one result per item, in order.
pub fn run_batch(
    engine: &dyn Engine,
    items: Vec<Vec<Shaped>>,
    max_rows: usize,
) -> Vec<Result<Vec<Shaped>, EngineError>> {
    let max_rows = max_rows.max(1);
    let mut results: Vec<Option<Result<Vec<Shaped>, EngineError>>> = (0..items.len()).map(|_| None).collect();
    let mut group: Vec<(usize, Vec<Shaped>)> = Vec::new();
    let mut rows = 0;
    for (i, item) in items.into_iter().enumerate() {
        let n = item.first().map_or(0, Shaped::batch);
        if n > max_rows {
            results[i] = Some(run_chunked(engine, item, max_rows));
            continue;
        }
        let fits = group.first().is_none_or(|(_, first)| same_row_shape(first, &item)) && rows + n <= max_rows;
        if !fits {
            flush(engine, std::mem::take(&mut group), &mut results);
            rows = 0;
        }
        rows += n;
        group.push((i, item));
    }
    flush(engine, group, &mut results);
    results.into_iter().map(|r| r.unwrap_or_else(|| Err(EngineError::Run("request was not run".into())))).collect()
}

/// Runs one group in one engine call and stores each member's share of the outputs.
fn flush(
    engine: &dyn Engine,
    group: Vec<(usize, Vec<Shaped>)>,
    results: &mut [Option<Result<Vec<Shaped>, EngineError>>],
) {
    if group.is_empty() {
        return;
    }
    if group.len() == 1 {
        let (i, item) = group.into_iter().next().expect("one member");
        results[i] = Some(engine.run(item));
        return;
    }
    let counts: Vec<usize> = group.iter().map(|(_, item)| item.first().map_or(0, Shaped::batch)).collect();
    let (indices, items): (Vec<usize>, Vec<Vec<Shaped>>) = group.into_iter().unzip();
    let outcome = concat(items).and_then(|inputs| engine.run(inputs)).and_then(|outputs| split(outputs, &counts));
    match outcome {
        Ok(parts) => {
            for (i, part) in indices.into_iter().zip(parts) {
                results[i] = Some(Ok(part));
            }
        }
        Err(e) => {
            for i in indices {
                results[i] = Some(Err(EngineError::Run(e.to_string())));
            }
        }
    }
}

/// Runs a request with more rows than the engine's largest batch in chunks of `max_rows`, joining the outputs.
fn run_chunked(engine: &dyn Engine, item: Vec<Shaped>, max_rows: usize) -> Result<Vec<Shaped>, EngineError> {
    let rows = item.first().map_or(0, Shaped::batch);
    let mut parts = Vec::new();
    let mut start = 0;
    while start < rows {
        let end = (start + max_rows).min(rows);
        let chunk = item.iter().map(|s| slice_rows(s, start, end)).collect::<Result<Vec<_>, _>>()?;
        parts.push(engine.run(chunk)?);
        start = end;
    }
    concat(parts)
}

fn same_row_shape(a: &[Shaped], b: &[Shaped]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.shape.get(1..) == y.shape.get(1..))
}

/// Joins several requests' tensors along the batch dimension, tensor by tensor.
fn concat(items: Vec<Vec<Shaped>>) -> Result<Vec<Shaped>, EngineError> {
    let Some(first) = items.first() else { return Ok(Vec::new()) };
    let mut joined: Vec<Shaped> =
        first.iter().map(|s| Shaped::new(s.shape.clone(), TensorData::empty(s.data.datatype()))).collect();
    for (n, item) in items.into_iter().enumerate() {
        for (into, part) in joined.iter_mut().zip(item) {
            if n > 0 {
                into.shape[0] += part.batch();
            }
            into.data.extend(part.data).map_err(EngineError::Run)?;
        }
    }
    Ok(joined)
}

/// Splits each output into consecutive row ranges of the given sizes.
fn split(outputs: Vec<Shaped>, counts: &[usize]) -> Result<Vec<Vec<Shaped>>, EngineError> {
    let total: usize = counts.iter().sum();
    let mut parts: Vec<Vec<Shaped>> = counts.iter().map(|_| Vec::with_capacity(outputs.len())).collect();
    for output in &outputs {
        if output.batch() != total {
            return Err(EngineError::Run(format!(
                "an output has leading dimension {} but the batch had {total} rows; the model cannot be batched",
                output.batch()
            )));
        }
        let mut start = 0;
        for (part, &n) in parts.iter_mut().zip(counts) {
            part.push(slice_rows(output, start, start + n)?);
            start += n;
        }
    }
    Ok(parts)
}

/// Rows `start..end` of a tensor.
fn slice_rows(t: &Shaped, start: usize, end: usize) -> Result<Shaped, EngineError> {
    let per_row: usize = t.shape.get(1..).unwrap_or_default().iter().product();
    let mut shape = t.shape.clone();
    if let Some(first) = shape.first_mut() {
        *first = end - start;
    }
    let data = t.data.slice(start * per_row, end * per_row).map_err(EngineError::Run)?;
    Ok(Shaped::new(shape, data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oip::TensorMetadata;

    /// Doubles its one input; records each call's batch size.
    struct Doubler(std::sync::Mutex<Vec<usize>>);

    impl Engine for Doubler {
        fn inputs(&self) -> &[TensorMetadata] {
            &[]
        }
        fn outputs(&self) -> &[TensorMetadata] {
            &[]
        }
        fn run(&self, inputs: Vec<Shaped>) -> Result<Vec<Shaped>, EngineError> {
            let input = inputs.into_iter().next().expect("one input");
            self.0.lock().expect("lock").push(input.batch());
            let TensorData::F32(v) = input.data else { panic!("f32") };
            Ok(vec![Shaped::new(input.shape, TensorData::F32(v.into_iter().map(|x| x * 2.0).collect()))])
        }
    }

    fn item(rows: usize, width: usize, base: f32) -> Vec<Shaped> {
        let data = (0..rows * width).map(|i| base + i as f32).collect();
        vec![Shaped::new(vec![rows, width], TensorData::F32(data))]
    }

    #[test]
    fn requests_join_one_call_and_get_their_own_rows_back() {
        let engine = Doubler(Default::default());
        let items = vec![item(1, 2, 0.0), item(2, 2, 10.0), item(1, 3, 100.0), item(1, 2, 20.0), item(5, 2, 30.0)];
        let out = run_batch(&engine, items, 4);
        let got: Vec<Vec<f32>> = out
            .into_iter()
            .map(|r| match r.expect("ok").remove(0).data {
                TensorData::F32(v) => v,
                _ => panic!("f32"),
            })
            .collect();
        assert_eq!(got[0], [0.0, 2.0]);
        assert_eq!(got[1], [20.0, 22.0, 24.0, 26.0]);
        assert_eq!(got[2], [200.0, 202.0, 204.0], "a different row shape runs on its own");
        assert_eq!(got[3], [40.0, 42.0]);
        assert_eq!(got[4].len(), 10, "a request above max rows runs in chunks");
        assert_eq!(got[4][9], 2.0 * 39.0);
        // [1+2] joined, [1x3] alone, the 5-row one in chunks of 4 and 1, then the last [1].
        assert_eq!(*engine.0.lock().expect("lock"), [3, 1, 4, 1, 1]);
    }
}
