//! The function templates sedge ships (`sedge new --lang …`).
