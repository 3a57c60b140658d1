//! Reading a mock cloud's world document. Each cloud has its own model and checks
//! ([`WorldFile::check`]); how a document is read and which error says what went wrong are
//! the same for both, so a bad world file reads the same whichever mock it was meant for.

use std::path::Path;

use serde::de::DeserializeOwned;

use super::error::Error;

/// A world model that can be seeded from a document.
pub(crate) trait WorldFile: DeserializeOwned {
    /// Fills in what the document may leave out and rejects dangling references.
    fn check(&mut self) -> Result<(), Error>;
}

/// Parses a YAML or JSON world (JSON is YAML) and checks it.
///
/// # Errors
/// [`Error::ParseWorld`] for bad syntax or unknown fields, [`Error::InvalidWorld`] for an
/// inconsistent world.
pub(crate) fn parse<W: WorldFile>(text: &str) -> Result<W, Error> {
    let mut world: W = serde_yaml::from_str(text).map_err(Error::ParseWorld)?;
    world.check()?;
    Ok(world)
}

/// Reads and parses a world file (`.yaml`, `.yml` or `.json`).
///
/// # Errors
/// [`Error::ReadWorld`] if the file cannot be read, else as [`parse`].
pub(crate) fn load<W: WorldFile>(path: &Path) -> Result<W, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::ReadWorld {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text)
}
