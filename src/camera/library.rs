//! Loading a vendor library at run time, with the error a user can act on when it is missing.

use super::CameraError;

/// A shared library hourhand can use but does not link.
#[derive(Debug, Clone, Copy)]
pub struct VendorLibrary {
    /// File names to try, in order (the loader searches `LD_LIBRARY_PATH` and the system paths).
    pub names: &'static [&'static str],
    /// The Debian package that installs it.
    pub package: &'static str,
}

impl VendorLibrary {
    /// Loads the library; `what` names the camera asked for, for the error.
    pub fn load(&self, what: &str) -> Result<libloading::Library, CameraError> {
        let mut reasons = Vec::new();
        for name in self.names {
            // SAFETY: loading runs the library's initialisers. These are the camera vendors'
            // own libraries, which a user installs to use exactly this; nothing else is loaded.
            match unsafe { libloading::Library::new(name) } {
                Ok(library) => return Ok(library),
                Err(e) => reasons.push(e.to_string()),
            }
        }
        Err(CameraError::Library {
            what: what.into(),
            library: self.names.join(" or "),
            reason: reasons.join("; "),
            package: self.package.into(),
        })
    }
}

/// Looks up `name` in `library` as a value of type `T` (a function pointer).
///
/// # Safety
/// `T` must be the symbol's true type.
pub unsafe fn symbol<T: Copy>(
    library: &libloading::Library,
    name: &str,
    what: &str,
) -> Result<T, CameraError> {
    // SAFETY: the caller vouches for the type.
    unsafe { library.get::<T>(name.as_bytes()) }
        .map(|s| *s)
        .map_err(|e| CameraError::Call {
            what: what.into(),
            call: format!("looking up {name}"),
            detail: format!("{e}; the installed library is not the expected version"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_library_names_its_package() {
        let missing = VendorLibrary {
            names: &["libhourhand-no-such-library.so.0"],
            package: "hourhand-nothing",
        };
        let e = missing.load("freenect:0").unwrap_err().to_string();
        assert!(
            e.starts_with("freenect:0: libhourhand-no-such-library.so.0 could not be loaded"),
            "{e}"
        );
        assert!(e.ends_with("sudo apt-get install hourhand-nothing"), "{e}");
    }
}
