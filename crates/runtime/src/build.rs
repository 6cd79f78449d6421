//! Building bundles from handler folders and templates (`sedge build`).
