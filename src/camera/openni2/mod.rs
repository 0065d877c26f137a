//! OpenNI2 depth cameras (PrimeSense Carmine, Asus Xtion, Orbbec Astra, …) and `.oni`
//! recordings, through libOpenNI2 (Debian `libopenni2-0`) loaded at run time, never linked.
//!
//! - `ffi`: the C API's declarations and the library's file names ([`LIBRARY`]).
//! - `context`: the process-wide OpenNI2 context (initialised once, never shut down) and the
//!   lock around the calls that change it.
//! - [`camera`]: [`OpenNi2Camera`], a device's depth stream or a recording played once.
//! - [`oni_file`]: writing `.oni` recordings of hourhand's own depth frames.
//!
//! OpenNI2 quirks this module works around, found on Debian's 2.2.0.33:
//! - drivers come from `OpenNI2/Drivers` beside the library (or `/etc/openni2/OpenNI.ini`),
//!   with no environment variable to point elsewhere; `oniInitialize` fails when none is there;
//! - `oniShutdown` after using a file device crashes at times (see `context`);
//! - closing a file device that never had a stream takes two seconds;
//! - the file driver's player thread races with the calls that tear a recording down:
//!   destroying its stream, or closing it while the thread hands over a frame or reports the
//!   end of the file, crashed the process; a recording's stream is therefore never destroyed
//!   and its device closed only after a pause (see `camera::Handles`). With that, 80 runs of
//!   these tests (two processes at a time) passed without a crash, against 5 crashes in 30;
//! - after a recording ends (no repeat) the file driver's thread spins on the CPU until the
//!   device is closed, so a camera that reported [`Stopped`](super::CameraError::Stopped)
//!   should be dropped;
//! - the library printed nothing to stdout or stderr in any of the tests here (its log goes
//!   nowhere unless `OpenNI.ini` turns it on).

pub mod camera;
mod context;
mod ffi;
pub mod oni_file;

#[cfg(test)]
mod tests;

pub use camera::OpenNi2Camera;
pub use ffi::LIBRARY;
pub use oni_file::{OniDepthStream, OniWriter, write_oni};

use super::{CameraError, CameraInfo, CameraSpec};

/// Whether `path` names an OpenNI2 recording (by its `.oni` extension): the viewer plays one
/// through OpenNI2 like a camera, and the other commands point to it.
pub fn is_oni(path: &std::path::Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("oni"))
}

/// The devices OpenNI2 finds, each by URI and name. Recordings the process opened (or tried
/// to) stay in OpenNI2's device list, even once deleted; they are left out (they are files,
/// not cameras): by their `.oni` URI, or the name the file driver gives them.
pub fn list() -> Result<Vec<CameraInfo>, CameraError> {
    let what = "openni2";
    let api = context::openni(what)?;
    let _guard = context::lock();
    let mut devices: *mut ffi::DeviceInfo = std::ptr::null_mut();
    let mut count: std::ffi::c_int = 0;
    // SAFETY: out-pointers; the list is released below.
    let rc = unsafe { (api.get_device_list)(&mut devices, &mut count) };
    if rc != ffi::STATUS_OK {
        return Err(CameraError::Call {
            what: what.into(),
            call: "oniGetDeviceList".into(),
            detail: api.extended_error(),
        });
    }
    let infos = if devices.is_null() {
        &[][..]
    } else {
        // SAFETY: the library's array of `count` entries, read before it is released.
        unsafe { std::slice::from_raw_parts(devices, count.max(0) as usize) }
    };
    let cameras = infos
        .iter()
        .map(|info| {
            let uri = ffi::fixed_str(&info.uri);
            let model = ffi::fixed_str(&info.name);
            let recording = model == "oni File" || camera::recording_path(&uri).is_some();
            let name = format!("{} {model} (OpenNI2, {uri})", ffi::fixed_str(&info.vendor));
            (uri, name, recording)
        })
        .filter(|(_, _, recording)| !recording)
        .map(|(uri, name, _)| CameraInfo {
            spec: CameraSpec::OpenNi2(Some(uri)),
            name,
        })
        .collect();
    // SAFETY: the list from oniGetDeviceList, released once.
    unsafe { (api.release_device_list)(devices) };
    Ok(cameras)
}
