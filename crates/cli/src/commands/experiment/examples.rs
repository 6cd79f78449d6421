//! The repository's `examples/` functions, embedded in the binary so an experiment runs from any folder. Each
//! [`Example`] is the files of one example folder; [`Example::files`] rewrites the two things that depend on
//! where it runs: model paths (to the `--models` folder) and the gateway URL the chained functions call.

use std::path::Path;

/// One example folder.
#[derive(Debug, Clone, Copy)]
pub struct Example {
    /// Folder name under `examples/`.
    pub dir: &'static str,
    /// The file `sedge deploy -f` takes.
    pub file: &'static str,
    files: &'static [(&'static str, &'static str)],
}

macro_rules! example_file {
    ($dir:literal, $path:literal) => {
        ($path, include_str!(concat!("../../../../../examples/", $dir, "/", $path)))
    };
}

/// `cat`, fork mode.
pub const HELLO: Example = Example { dir: "hello", file: "stack.yml", files: &[example_file!("hello", "stack.yml")] };

/// A python3-http greeting.
pub const PYTHON_HELLO: Example = Example {
    dir: "python-hello",
    file: "stack.yml",
    files: &[example_file!("python-hello", "stack.yml"), example_file!("python-hello", "python-hello/handler.py")],
};

/// Seed 001's sleeper, fork-mode python3 (`sleep`) and python3-http (`sleep-http`).
pub const SLEEP: Example = Example {
    dir: "sleep",
    file: "stack.yml",
    files: &[
        example_file!("sleep", "stack.yml"),
        example_file!("sleep", "sleep/handler.py"),
        example_file!("sleep", "sleep-http/handler.py"),
    ],
};

/// Seed 000's MNIST predict function.
pub const MNIST_PREDICT: Example = Example {
    dir: "mnist-predict",
    file: "mnist-predict.yml",
    files: &[example_file!("mnist-predict", "mnist-predict.yml")],
};

/// Seed 002's face-blur function.
pub const FACE_BLUR: Example =
    Example { dir: "face-blur", file: "face-blur.yml", files: &[example_file!("face-blur", "face-blur.yml")] };

/// Seed 003's chained functions.
pub const CHAIN: Example = Example {
    dir: "chain",
    file: "stack.yml",
    files: &[
        example_file!("chain", "stack.yml"),
        example_file!("chain", "chain-entry/handler.py"),
        example_file!("chain", "chain-next/handler.py"),
        example_file!("chain", "chain-state/handler.py"),
    ],
};

/// Where the examples' model paths point in the repository (relative to their own files).
const SHARED_MODELS: &str = "../../../shared/models/";
/// The gateway URL the examples are written for.
const DEFAULT_GATEWAY: &str = "http://127.0.0.1:8080";

impl Example {
    /// The files with model paths pointing into `models` and gateway URLs at `gateway`.
    pub fn files(&self, models: &Path, gateway: &str) -> Vec<(&'static str, String)> {
        let models = format!("{}/", models.display());
        self.files
            .iter()
            .map(|(path, text)| (*path, text.replace(SHARED_MODELS, &models).replace(DEFAULT_GATEWAY, gateway)))
            .collect()
    }

    /// The example's handler folders under a stack file of the caller's own (e.g. one function per timeout row).
    pub fn with_stack(&self, stack: String) -> Vec<(&'static str, String)> {
        let handlers = self.files.iter().filter(|(path, _)| *path != self.file);
        std::iter::once((self.file, stack)).chain(handlers.map(|(path, text)| (*path, text.to_string()))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_paths_and_the_gateway_are_rewritten() {
        let files = MNIST_PREDICT.files(Path::new("/m"), "http://127.0.0.1:1");
        assert!(files[0].1.contains("model: /m/mnist_cnn.onnx"), "{}", files[0].1);
        let files = CHAIN.files(Path::new("/m"), "http://127.0.0.1:1");
        let stack = &files.iter().find(|(p, _)| *p == "stack.yml").unwrap().1;
        assert!(stack.contains("gateway_url: http://127.0.0.1:1 }"), "{stack}");
        assert!(!stack.contains(DEFAULT_GATEWAY));
    }

    #[test]
    fn a_stack_of_ones_own_keeps_the_handlers() {
        let files = SLEEP.with_stack("functions: {}".into());
        let paths: Vec<&str> = files.iter().map(|(p, _)| *p).collect();
        assert_eq!(paths, ["stack.yml", "sleep/handler.py", "sleep-http/handler.py"]);
        assert_eq!(files[0].1, "functions: {}");
    }

    #[test]
    fn every_example_parses_as_what_deploy_takes() {
        for example in [HELLO, PYTHON_HELLO, SLEEP, CHAIN] {
            let (_, text) = example.files(Path::new("/m"), "http://g").into_iter().next().unwrap();
            let stack = sedge_core::stack::Stack::parse(&text, |_| None);
            assert!(stack.is_ok(), "{}: {:?}", example.dir, stack.err());
        }
        for example in [MNIST_PREDICT, FACE_BLUR] {
            let (_, text) = example.files(Path::new("/m"), "http://g").into_iter().next().unwrap();
            assert!(sedge_core::manifest::parse(&text).is_ok(), "{}", example.dir);
        }
    }
}
