//! (being built: issue 5)
