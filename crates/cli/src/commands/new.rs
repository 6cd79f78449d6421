//! `sedge new NAME --lang L`: writes a handler folder from a template and adds the function to the stack file.
//!
//! The stack file is edited as text, so that the user's comments and layout survive: the new entry goes at the
//! end of the `functions:` block with the block's own indentation. When the file's shape defeats that (an inline
//! `functions: {}`), it is re-serialized with serde_yaml instead. Either way the result is parsed back and
//! checked before anything is written.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use sedge_core::name::validate_label;
use sedge_runtime::templates;
use serde_yaml::{Mapping, Value};

use super::{DEFAULT_GATEWAY, StackArgs, stack_dir};

/// Arguments of `sedge new`.
#[derive(Debug, Clone, clap::Args)]
pub struct NewArgs {
    /// Function name (lowercase letters, digits and '-').
    pub name: String,
    /// Template: python3 (fork mode) or python3-http (http mode).
    #[arg(long)]
    pub lang: String,
    /// Image prefix, e.g. a registry or user: the image becomes PREFIX/NAME:latest.
    #[arg(long)]
    pub prefix: Option<String>,
    #[command(flatten)]
    pub stack: StackArgs,
}

/// Runs `sedge new`.
pub fn run(args: NewArgs) -> Result<()> {
    let name = args.name.as_str();
    validate_label(name, "function name")?;
    let Some(template) = templates::find(&args.lang) else {
        let known: Vec<String> =
            templates::all().iter().map(|t| format!("  {:<14} {}", t.name, t.description)).collect();
        bail!("unknown lang {:?}; sedge ships these templates:\n{}", args.lang, known.join("\n"));
    };
    let image = match args.prefix.as_deref().map(|p| p.trim_end_matches('/')).filter(|p| !p.is_empty()) {
        Some(prefix) => format!("{prefix}/{name}:latest"),
        None => format!("{name}:latest"),
    };

    let stack_path = args.stack.path();
    let existing = match std::fs::read_to_string(&stack_path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("could not read {}", stack_path.display())),
    };
    let new_stack = add_function(existing.as_deref(), name, template.name, &image)
        .with_context(|| format!("could not add {name} to {}", stack_path.display()))?;

    let folder: PathBuf = stack_dir(&stack_path).join(name);
    if folder.exists() {
        bail!("folder {} already exists: choose another name or remove it", folder.display());
    }
    for (rel, content) in template.handler_files {
        let path = folder.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("could not create {}", parent.display()))?;
        }
        std::fs::write(&path, content).with_context(|| format!("could not write {}", path.display()))?;
    }
    println!("Folder: {} created.", folder.display());
    std::fs::write(&stack_path, new_stack).with_context(|| format!("could not write {}", stack_path.display()))?;
    println!("Function created in folder: {}", folder.display());
    println!("Stack file written: {}", stack_path.display());
    Ok(())
}

/// The stack file text with function `name` added (a new file when `existing` is `None`).
pub fn add_function(existing: Option<&str>, name: &str, lang: &str, image: &str) -> Result<String> {
    let Some(text) = existing else {
        let head = format!("version: 1.0\nprovider:\n  name: openfaas\n  gateway: {DEFAULT_GATEWAY}\nfunctions:\n");
        return Ok(head + &entry(name, lang, image, 2));
    };
    let doc: Value = if text.trim().is_empty() {
        Value::Mapping(Mapping::new())
    } else {
        serde_yaml::from_str(text).context("the stack file is not valid YAML")?
    };
    let Value::Mapping(root) = &doc else { bail!("the stack file is not a YAML mapping") };
    match root.get("functions") {
        Some(Value::Mapping(fns)) if fns.contains_key(name) => bail!("function {name} is already in the stack file"),
        Some(Value::Mapping(_) | Value::Null) | None => {}
        Some(_) => bail!("`functions:` in the stack file is not a mapping"),
    }
    let edited = edit_text(text, name, lang, image);
    match edited.filter(|t| has_function(t, name, lang)) {
        Some(t) => Ok(t),
        None => reserialize(doc, name, lang, image),
    }
}

/// The YAML lines for one function, indented by `indent` spaces (fields by twice that).
fn entry(name: &str, lang: &str, image: &str, indent: usize) -> String {
    let (a, b) = (" ".repeat(indent), " ".repeat(indent * 2));
    format!("{a}{name}:\n{b}lang: {lang}\n{b}handler: ./{name}\n{b}image: {image}\n")
}

/// Inserts the entry at the end of the `functions:` block, or appends a block; `None` if the layout is unusual.
fn edit_text(text: &str, name: &str, lang: &str, image: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let top_level = |l: &str| !l.trim().is_empty() && !l.starts_with([' ', '\t', '#']);
    let Some(start) = lines.iter().position(|l| {
        l.strip_prefix("functions:").is_some_and(|rest| rest.trim().is_empty() || rest.trim_start().starts_with('#'))
    }) else {
        if lines.iter().any(|l| l.starts_with("functions")) {
            return None;
        }
        let mut out = text.to_string();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        return Some(out + "functions:\n" + &entry(name, lang, image, 2));
    };
    let end = (start + 1..lines.len()).find(|&i| top_level(lines[i])).unwrap_or(lines.len());
    let mut insert_at = end;
    while insert_at > start + 1 && lines[insert_at - 1].trim().is_empty() {
        insert_at -= 1;
    }
    let indent = lines[start + 1..end]
        .iter()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map_or(2, |l| l.len() - l.trim_start_matches(' ').len());
    if indent == 0 {
        return None;
    }
    let mut out: Vec<String> = lines[..insert_at].iter().map(|l| l.to_string()).collect();
    out.push(entry(name, lang, image, indent).trim_end().to_string());
    out.extend(lines[insert_at..].iter().map(|l| l.to_string()));
    Some(out.join("\n") + "\n")
}

fn has_function(text: &str, name: &str, lang: &str) -> bool {
    let Ok(doc) = serde_yaml::from_str::<Value>(text) else { return false };
    doc.get("functions").and_then(|f| f.get(name)).and_then(|f| f.get("lang")).and_then(Value::as_str) == Some(lang)
}

fn reserialize(mut doc: Value, name: &str, lang: &str, image: &str) -> Result<String> {
    let Value::Mapping(root) = &mut doc else { bail!("the stack file is not a YAML mapping") };
    let functions = root.entry("functions".into()).or_insert_with(|| Value::Mapping(Mapping::new()));
    if functions.is_null() {
        *functions = Value::Mapping(Mapping::new());
    }
    let Value::Mapping(functions) = functions else { bail!("`functions:` in the stack file is not a mapping") };
    let mut f = Mapping::new();
    f.insert("lang".into(), lang.into());
    f.insert("handler".into(), format!("./{name}").into());
    f.insert("image".into(), image.into());
    functions.insert(name.into(), Value::Mapping(f));
    serde_yaml::to_string(&doc).context("could not write the stack file as YAML")
}

#[cfg(test)]
mod tests {
    use sedge_core::stack::Stack;

    use super::*;

    fn parse(text: &str) -> Stack {
        Stack::parse(text, |_| None).unwrap()
    }

    #[test]
    fn creates_a_stack_file() {
        let text = add_function(None, "echo", "python3", "echo:latest").unwrap();
        let stack = parse(&text);
        assert_eq!(stack.version.as_deref(), Some("1.0"));
        assert_eq!(stack.provider.unwrap().gateway.as_deref(), Some("http://127.0.0.1:8080"));
        let f = &stack.functions["echo"];
        assert_eq!((f.lang.as_deref(), f.handler.as_deref()), (Some("python3"), Some("./echo")));
        assert_eq!(f.image.as_deref(), Some("echo:latest"));
    }

    #[test]
    fn appends_inside_the_functions_block_keeping_comments_and_indent() {
        let before = "# my stack\nversion: 1.0\nfunctions:\n    a:\n        image: a # first\n\nconfiguration:\n  templates: []\n";
        let text = add_function(Some(before), "b", "python3-http", "me/b:latest").unwrap();
        assert_eq!(
            text,
            "# my stack\nversion: 1.0\nfunctions:\n    a:\n        image: a # first\n    b:\n        lang: python3-http\n        \
             handler: ./b\n        image: me/b:latest\n\nconfiguration:\n  templates: []\n"
        );
        let stack = parse(&text);
        assert_eq!(stack.functions.len(), 2);
    }

    #[test]
    fn adds_a_block_or_falls_back_to_reserializing() {
        let text = add_function(Some("version: 1.0"), "a", "python3", "a:latest").unwrap();
        assert_eq!(text, "version: 1.0\nfunctions:\n  a:\n    lang: python3\n    handler: ./a\n    image: a:latest\n");
        let text = add_function(Some("version: 1.0\nfunctions:\n"), "a", "python3", "a:latest").unwrap();
        assert_eq!(parse(&text).functions["a"].image.as_deref(), Some("a:latest"));
        let text = add_function(Some("functions: {x: {image: x}}\n"), "a", "python3", "a:latest").unwrap();
        let stack = parse(&text);
        assert_eq!(stack.functions.len(), 2);
        assert_eq!(stack.functions["a"].lang.as_deref(), Some("python3"));
    }

    #[test]
    fn refuses_duplicates_and_broken_files() {
        let e = add_function(Some("functions:\n  a:\n    image: a\n"), "a", "python3", "a").unwrap_err();
        assert_eq!(e.to_string(), "function a is already in the stack file");
        assert!(add_function(Some("functions: ["), "a", "python3", "a").is_err());
        assert!(add_function(Some("- a\n"), "a", "python3", "a").is_err());
        assert!(add_function(Some("functions: [a]\n"), "a", "python3", "a").is_err());
    }
}
