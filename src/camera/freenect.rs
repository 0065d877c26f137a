//! The Kinect v1 through libfreenect (Debian `libfreenect0.5`), loaded at run time, and
//! fakenect, its drop-in replacement that replays a dump (`LD_LIBRARY_PATH=
//! /usr/lib/x86_64-linux-gnu/fakenect FAKENECT_PATH=DUMP`).
//!
//! hourhand asks for raw 11-bit disparity (the one depth format both libraries have; Debian's
//! fakenect aborts on any other) and converts it to millimetres itself ([`super::kinect`]).
//! libfreenect calls the depth callback from inside `freenect_process_events`, on the thread
//! that called it, so the callback hands the frame over through a thread-local slot.

use std::cell::RefCell;
use std::ffi::{c_int, c_long, c_void};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::fakenect::FakenectDump;
use super::kinect::{self, HEIGHT, WIDTH};
use super::library::{VendorLibrary, symbol};
use super::{CameraError, CameraFrame, CameraInfo, CameraSpec, DepthCamera};
use crate::data::depth::DepthMap;
use crate::data::intrinsics::Intrinsics;

/// libfreenect, as Debian installs it.
pub const LIBRARY: VendorLibrary = VendorLibrary {
    names: &[
        "libfreenect.so.0.5",
        "libfreenect.so",
        "libfreenect.0.5.dylib",
        "freenect.dll",
    ],
    package: "libfreenect0.5",
};

/// `freenect_frame_mode` (libfreenect.h), passed by value.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct FrameMode {
    reserved: u32,
    resolution: c_int,
    format: i32,
    bytes: i32,
    width: i16,
    height: i16,
    data_bits_per_pixel: i8,
    padding_bits_per_pixel: i8,
    framerate: i8,
    is_valid: i8,
}

#[repr(C)]
struct Timeval {
    tv_sec: c_long,
    tv_usec: c_long,
}

type Context = *mut c_void;
type Device = *mut c_void;
type DepthCallback = unsafe extern "C" fn(Device, *mut c_void, u32);

const RESOLUTION_MEDIUM: c_int = 1;
const DEPTH_11BIT: c_int = 0;
const DEVICE_CAMERA: c_int = 0x02;
const LOG_WARNING: c_int = 2;

/// The library's entry points hourhand uses.
struct Api {
    init: unsafe extern "C" fn(*mut Context, *mut c_void) -> c_int,
    shutdown: unsafe extern "C" fn(Context) -> c_int,
    set_log_level: unsafe extern "C" fn(Context, c_int),
    select_subdevices: unsafe extern "C" fn(Context, c_int),
    num_devices: unsafe extern "C" fn(Context) -> c_int,
    open_device: unsafe extern "C" fn(Context, *mut Device, c_int) -> c_int,
    close_device: unsafe extern "C" fn(Device) -> c_int,
    set_depth_callback: unsafe extern "C" fn(Device, Option<DepthCallback>),
    find_depth_mode: unsafe extern "C" fn(c_int, c_int) -> FrameMode,
    set_depth_mode: unsafe extern "C" fn(Device, FrameMode) -> c_int,
    set_depth_buffer: unsafe extern "C" fn(Device, *mut c_void) -> c_int,
    start_depth: unsafe extern "C" fn(Device) -> c_int,
    stop_depth: unsafe extern "C" fn(Device) -> c_int,
    process_events_timeout: unsafe extern "C" fn(Context, *mut Timeval) -> c_int,
    /// Fakenect (the replaying library) lacks the device-attribute calls; it plays
    /// `FAKENECT_PATH` and exits the process when that is unset or damaged.
    fakenect: bool,
    _library: libloading::Library,
}

impl Api {
    fn load(what: &str) -> Result<Api, CameraError> {
        let library = LIBRARY.load(what)?;
        // SAFETY: each type is the function's signature in libfreenect.h (0.5).
        unsafe {
            Ok(Api {
                init: symbol(&library, "freenect_init", what)?,
                shutdown: symbol(&library, "freenect_shutdown", what)?,
                set_log_level: symbol(&library, "freenect_set_log_level", what)?,
                select_subdevices: symbol(&library, "freenect_select_subdevices", what)?,
                num_devices: symbol(&library, "freenect_num_devices", what)?,
                open_device: symbol(&library, "freenect_open_device", what)?,
                close_device: symbol(&library, "freenect_close_device", what)?,
                set_depth_callback: symbol(&library, "freenect_set_depth_callback", what)?,
                find_depth_mode: symbol(&library, "freenect_find_depth_mode", what)?,
                set_depth_mode: symbol(&library, "freenect_set_depth_mode", what)?,
                set_depth_buffer: symbol(&library, "freenect_set_depth_buffer", what)?,
                start_depth: symbol(&library, "freenect_start_depth", what)?,
                stop_depth: symbol(&library, "freenect_stop_depth", what)?,
                process_events_timeout: symbol(&library, "freenect_process_events_timeout", what)?,
                fakenect: library
                    .get::<unsafe extern "C" fn()>(b"freenect_list_device_attributes")
                    .is_err(),
                _library: library,
            })
        }
    }

    /// For fakenect: the dump `FAKENECT_PATH` names, checked whole, since the library exits the
    /// process on a missing or unset path and reads past the end of a short file.
    fn check_fakenect_dump(&self, what: &str) -> Result<Option<PathBuf>, CameraError> {
        if !self.fakenect {
            return Ok(None);
        }
        let Some(path) = std::env::var_os("FAKENECT_PATH").map(PathBuf::from) else {
            return Err(CameraError::NotFound {
                what: what.into(),
                problem: "the libfreenect found is fakenect, which replays a recording: set FAKENECT_PATH to a dump folder (or take fakenect out of LD_LIBRARY_PATH for a real Kinect)".into(),
            });
        };
        let dump = FakenectDump::open(&path, None, None).map_err(|e| CameraError::Recording {
            path: path.clone(),
            problem: format!("FAKENECT_PATH: {e}"),
        })?;
        dump.check_all().map_err(|e| CameraError::Recording {
            path: path.clone(),
            problem: format!("FAKENECT_PATH: {e}"),
        })?;
        Ok(Some(path))
    }

    /// A new context, logging warnings only, for the camera alone (not the motor or audio).
    fn context(&self, what: &str) -> Result<Context, CameraError> {
        let mut ctx: Context = std::ptr::null_mut();
        // SAFETY: a fresh out-pointer; a null USB context asks the library for its own.
        let rc = unsafe { (self.init)(&mut ctx, std::ptr::null_mut()) };
        if rc < 0 || ctx.is_null() {
            return Err(call_error(
                what,
                "freenect_init",
                rc,
                "is libusb able to reach USB here?",
            ));
        }
        // SAFETY: ctx was just created.
        unsafe {
            (self.set_log_level)(ctx, LOG_WARNING);
            (self.select_subdevices)(ctx, DEVICE_CAMERA);
        }
        Ok(ctx)
    }
}

fn call_error(what: &str, call: &str, rc: c_int, hint: &str) -> CameraError {
    CameraError::Call {
        what: what.into(),
        call: call.into(),
        detail: format!("returned {rc}; {hint}"),
    }
}

/// The Kinects libfreenect finds.
pub fn list() -> Result<Vec<CameraInfo>, CameraError> {
    let what = "freenect";
    let api = Api::load(what)?;
    if let Some(dump) = api.check_fakenect_dump(what)? {
        return Ok(vec![CameraInfo {
            spec: CameraSpec::Freenect(0),
            name: format!("Kinect v1 replayed by fakenect from {}", dump.display()),
        }]);
    }
    let ctx = api.context(what)?;
    // SAFETY: a live context, shut down right after.
    let count = unsafe {
        let n = (api.num_devices)(ctx);
        (api.shutdown)(ctx);
        n
    };
    Ok((0..count.max(0) as u32)
        .map(|i| CameraInfo {
            spec: CameraSpec::Freenect(i),
            name: format!("Kinect v1 #{i} (libfreenect)"),
        })
        .collect())
}

thread_local! {
    /// The frame the depth callback delivered during the current `process_events` call.
    static DELIVERED: RefCell<Option<(Vec<u16>, u32)>> = const { RefCell::new(None) };
}

unsafe extern "C" fn on_depth(_dev: Device, depth: *mut c_void, timestamp: u32) {
    if depth.is_null() {
        return;
    }
    // SAFETY: in 11-bit mode the library hands over WIDTH × HEIGHT uint16 values, in the
    // buffer hourhand gave it.
    let values = unsafe { std::slice::from_raw_parts(depth as *const u16, WIDTH * HEIGHT) };
    DELIVERED.with(|slot| *slot.borrow_mut() = Some((values.to_vec(), timestamp)));
}

/// An open Kinect v1 streaming raw depth.
pub struct FreenectCamera {
    api: Api,
    ctx: Context,
    dev: Device,
    /// The buffer the library writes frames into; it must outlive streaming.
    buffer: Vec<u16>,
    what: String,
    replaying: Option<PathBuf>,
}

// SAFETY: the context and device are used only through `&mut self`, from one thread at a time;
// libfreenect ties neither to the thread that opened it.
unsafe impl Send for FreenectCamera {}

impl FreenectCamera {
    /// Opens Kinect `index` and starts its depth stream.
    pub fn open(index: u32) -> Result<FreenectCamera, CameraError> {
        let what = CameraSpec::Freenect(index).to_string();
        let api = Api::load(&what)?;
        let replaying = api.check_fakenect_dump(&what)?;
        let ctx = api.context(&what)?;
        let mut camera = FreenectCamera {
            api,
            ctx,
            dev: std::ptr::null_mut(),
            buffer: vec![0; WIDTH * HEIGHT],
            what,
            replaying,
        };
        camera.start(index)?;
        Ok(camera)
    }

    fn start(&mut self, index: u32) -> Result<(), CameraError> {
        let api = &self.api;
        let what = self.what.as_str();
        // SAFETY: the context is live; every call follows libfreenect's documented order
        // (open, set callback, mode and buffer, start).
        unsafe {
            let count = (api.num_devices)(self.ctx);
            if count <= index as c_int {
                return Err(CameraError::NotFound {
                    what: what.into(),
                    problem: format!(
                        "libfreenect sees {} Kinect{}; is it plugged in and powered, and is this user in the plugdev group?",
                        count.max(0),
                        if count == 1 { "" } else { "s" }
                    ),
                });
            }
            let rc = (api.open_device)(self.ctx, &mut self.dev, index as c_int);
            if rc < 0 || self.dev.is_null() {
                self.dev = std::ptr::null_mut();
                return Err(call_error(
                    what,
                    "freenect_open_device",
                    rc,
                    "is another program using the Kinect?",
                ));
            }
            let mode = (api.find_depth_mode)(RESOLUTION_MEDIUM, DEPTH_11BIT);
            if mode.is_valid == 0
                || (mode.width as usize, mode.height as usize) != (WIDTH, HEIGHT)
                || mode.bytes as usize != WIDTH * HEIGHT * 2
            {
                return Err(CameraError::Call {
                    what: what.into(),
                    call: "freenect_find_depth_mode".into(),
                    detail: format!("no 640×480 11-bit depth mode (got {mode:?})"),
                });
            }
            let rc = (api.set_depth_mode)(self.dev, mode);
            if rc < 0 {
                return Err(call_error(
                    what,
                    "freenect_set_depth_mode",
                    rc,
                    "11-bit depth",
                ));
            }
            (api.set_depth_callback)(self.dev, Some(on_depth));
            (api.set_depth_buffer)(self.dev, self.buffer.as_mut_ptr().cast());
            let rc = (api.start_depth)(self.dev);
            if rc < 0 {
                return Err(call_error(
                    what,
                    "freenect_start_depth",
                    rc,
                    "the depth stream",
                ));
            }
        }
        Ok(())
    }
}

impl DepthCamera for FreenectCamera {
    fn describe(&self) -> String {
        match &self.replaying {
            Some(dump) => format!(
                "Kinect v1 ({}, replayed by fakenect from {})",
                self.what,
                dump.display()
            ),
            None => format!("Kinect v1 ({}, libfreenect)", self.what),
        }
    }

    fn intrinsics(&self) -> Intrinsics {
        kinect::INTRINSICS
    }

    fn next_frame(&mut self, timeout: Duration) -> Result<Option<CameraFrame>, CameraError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut tv = Timeval {
                tv_sec: left.as_secs() as c_long,
                tv_usec: left.subsec_micros() as c_long,
            };
            DELIVERED.with(|slot| slot.borrow_mut().take());
            // SAFETY: a live context; the callback only copies out of the buffer it is given.
            let rc = unsafe { (self.api.process_events_timeout)(self.ctx, &mut tv) };
            if let Some((raw, timestamp)) = DELIVERED.with(|slot| slot.borrow_mut().take()) {
                let depth = DepthMap::new(WIDTH, HEIGHT, kinect::raw_frame_to_mm(&raw))
                    .expect("the conversion gives finite, non-negative millimetres");
                return Ok(Some(CameraFrame {
                    depth,
                    received: Instant::now(),
                    timestamp: u64::from(timestamp),
                }));
            }
            if rc < 0 {
                return Err(CameraError::Stopped {
                    what: self.what.clone(),
                    problem: if self.replaying.is_some() {
                        "the fakenect recording ended".into()
                    } else {
                        format!("freenect_process_events returned {rc} (unplugged?)")
                    },
                });
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }
}

impl Drop for FreenectCamera {
    fn drop(&mut self) {
        // SAFETY: stop and close what was opened, then the context; the buffer outlives both.
        unsafe {
            if !self.dev.is_null() {
                (self.api.stop_depth)(self.dev);
                (self.api.set_depth_callback)(self.dev, None);
                (self.api.close_device)(self.dev);
            }
            (self.api.shutdown)(self.ctx);
        }
    }
}
