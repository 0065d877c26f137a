//! OpenNI2's process-wide context: loaded and initialised once per process, never shut down,
//! and a lock around the calls that change it.
//!
//! Why never shut down: `oniShutdown` unloads the drivers, but closing a device can leave the
//! file driver's player thread still unwinding from a `pthread_cancel` (the driver cancels it
//! when it does not stop within its timeout); with the driver unloaded under it the process
//! crashes. Measured with Debian's 2.2.0.33: open/close a `.oni` ten times then shut down,
//! 3 crashes in 10 runs; the same without `oniShutdown`, none in 45. So the library, its
//! drivers and their threads (PS1080 and PSLink each keep a USB thread) stay for the life of
//! the process once a camera was asked for.
//!
//! Why a lock: `oniInitialize` is not thread-safe (an unguarded counter), and the file driver
//! keeps the path of the file being tried in one field shared by all `oniDeviceOpen` calls.
//! Opening, closing, listing and creating or destroying streams go through [`lock`]; waiting for
//! and reading frames do not (each stream has its own frame queue, locked inside the library).
//!
//! Driver search: OpenNI2 loads every `lib*.so` from `OpenNI2/Drivers` beside
//! `libOpenNI2.so.0`, or from the `[Drivers] Repository` in its `OpenNI.ini` (Debian reads
//! `/etc/openni2/OpenNI.ini`; a relative path there is relative to the library's folder). It
//! has no environment variable for it. While it loads them it changes the process's working
//! directory to that folder and back, so paths handed to it are made absolute.

use std::sync::{Mutex, MutexGuard, OnceLock};

use super::super::CameraError;
use super::ffi::{API_VERSION, Api, LIBRARY, STATUS_OK};

/// Why the context could not be set up, kept so later callers get the same answer.
#[derive(Debug, Clone)]
enum Failure {
    Library {
        library: String,
        reason: String,
        package: String,
    },
    Call {
        call: String,
        detail: String,
    },
}

impl Failure {
    fn to_error(&self, what: &str) -> CameraError {
        match self.clone() {
            Failure::Library {
                library,
                reason,
                package,
            } => CameraError::Library {
                what: what.into(),
                library,
                reason,
                package,
            },
            Failure::Call { call, detail } => CameraError::Call {
                what: what.into(),
                call,
                detail,
            },
        }
    }
}

static OPENNI: OnceLock<Result<Api, Failure>> = OnceLock::new();
static LOCK: Mutex<()> = Mutex::new(());

/// The initialised library, loading and initialising it on first use; `what` names the camera
/// for the error.
pub fn openni(what: &str) -> Result<&'static Api, CameraError> {
    OPENNI
        .get_or_init(|| {
            let _guard = lock();
            let api = Api::load(&LIBRARY, what).map_err(|e| match e {
                CameraError::Library { library, reason, package, .. } => {
                    Failure::Library { library, reason, package }
                }
                CameraError::Call { call, detail, .. } => Failure::Call { call, detail },
                other => Failure::Call {
                    call: "loading libOpenNI2".into(),
                    detail: other.to_string(),
                },
            })?;
            // SAFETY: the version constant of the headers the declarations follow.
            let rc = unsafe { (api.initialize)(API_VERSION) };
            if rc != STATUS_OK {
                return Err(Failure::Call {
                    call: "oniInitialize".into(),
                    detail: format!(
                        "returned {rc}: {}; OpenNI2 loads its drivers from OpenNI2/Drivers beside libOpenNI2.so.0 or from the [Drivers] Repository in OpenNI.ini (/etc/openni2/OpenNI.ini on Debian); on Debian or Ubuntu: sudo apt-get install {}",
                        api.extended_error(),
                        LIBRARY.package
                    ),
                });
            }
            Ok(api)
        })
        .as_ref()
        .map_err(|f| f.to_error(what))
}

/// Holds OpenNI2's context still while a device is opened, closed or listed, or a stream
/// created or destroyed. A panic while it was held does not poison it: the library's state
/// does not depend on Rust code finishing.
pub fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
