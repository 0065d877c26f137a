//! [`OpenNi2Camera`]: one OpenNI2 device's depth stream, live or replaying a `.oni` file.

use std::ffi::{CString, c_int, c_void};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::super::{CameraError, CameraFrame, CameraSpec, DepthCamera};
use super::context::{lock, openni};
use super::ffi::{self, Api, CallbackHandle, DeviceHandle, StreamHandle, VideoMode};
use super::oni_file::MAGIC;
use crate::data::depth::DepthMap;
use crate::data::intrinsics::Intrinsics;

/// An OpenNI2 device's depth stream, started; stopped and closed when dropped.
pub struct OpenNi2Camera {
    handles: Handles,
    /// "openni2:URI", for messages.
    what: String,
    description: String,
    /// Fields of view in radians, from the stream's properties.
    horizontal_fov: f64,
    vertical_fov: f64,
    /// The video mode of the last frame (or the stream's, before the first).
    mode: VideoMode,
    /// Where the last frame's crop starts in the full image, (0, 0) without cropping.
    crop_origin: (f64, f64),
    /// For a `.oni` file: its frame count as the file gives it (`None` when it does not).
    recording_frames: Option<u32>,
    frames_read: u32,
    /// The last frame of the recording was handed out; the end is reported once the file
    /// driver has reported it too.
    recording_done: bool,
}

/// What OpenNI2 reports about a device through the process-wide device callbacks.
struct DeviceEvents {
    /// The device's URI, to tell its reports from other devices'.
    uri: String,
    /// The file driver reached the end of the recording (it does not repeat).
    end_of_file: AtomicBool,
    /// The device was unplugged.
    disconnected: AtomicBool,
}

/// The library's handles, released in reverse order when dropped (null ones skipped), so
/// that a half-opened camera cleans up on every error path.
struct Handles {
    api: &'static Api,
    device: DeviceHandle,
    stream: StreamHandle,
    started: bool,
    /// A recording's stream is left to the library rather than destroyed (see `drop`).
    file_device: bool,
    callbacks: CallbackHandle,
    /// The cookie the callbacks get; boxed so its address stays fixed, and freed only after
    /// they are unregistered.
    events: *mut DeviceEvents,
}

// SAFETY: OpenNI2's device and stream handles are not tied to the thread that made them (the
// library locks its own state), the camera is used through `&mut self` from one thread at a
// time, and `events` is only read by the callbacks (atomics) and freed after they are removed.
unsafe impl Send for Handles {}

impl Drop for Handles {
    /// Stops the stream, then releases stream and device — except a recording's stream.
    ///
    /// The file driver's player thread walks the device's stream list, unlocked, at the top of
    /// every turn of its loop (and spins on that loop once a recording has ended), while
    /// `oniStreamDestroy` unlinks and frees the stream from that list: destroying a recording's
    /// stream crashed the test process in half the runs. Closing the device first joins that
    /// thread, but then destroying the stream calls into the freed device. So a recording's
    /// device is closed and its stream never destroyed: a few kilobytes (and any frames left
    /// unread) stay allocated per recording opened. Live devices release both, stream first.
    fn drop(&mut self) {
        let api = self.api;
        // SAFETY: each handle was returned by the library and is released at most once, the
        // stream (if at all) before its device, and the callbacks removed before their cookie
        // is freed.
        unsafe {
            if self.started {
                (api.stream_stop)(self.stream);
            }
            if self.file_device && !self.events.is_null() {
                // Let the player thread finish what it is doing: handing over a frame, or
                // reporting the end of the file. Closing the device while it was still in
                // there crashed the process (in 5 of 30 test runs).
                let ended = (*self.events).end_of_file.load(Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(if ended { 20 } else { 100 }));
            }
            let guard = lock();
            if !self.stream.is_null() && !self.file_device {
                (api.stream_destroy)(self.stream);
            }
            if !self.device.is_null() {
                (api.device_close)(self.device);
            }
            if !self.callbacks.is_null() {
                (api.unregister_device_callbacks)(self.callbacks);
            }
            drop(guard);
            if !self.events.is_null() {
                drop(Box::from_raw(self.events));
            }
        }
    }
}

unsafe extern "C" fn on_connected(_info: *const ffi::DeviceInfo, _cookie: *mut c_void) {}

/// Whether a callback's report is about the device whose events `cookie` holds.
///
/// # Safety
/// `info` is null or an `OniDeviceInfo`; `cookie` a live `DeviceEvents`.
unsafe fn events_for<'a>(
    info: *const ffi::DeviceInfo,
    cookie: *mut c_void,
) -> Option<&'a DeviceEvents> {
    if info.is_null() || cookie.is_null() {
        return None;
    }
    // SAFETY: the caller vouches for both pointers.
    let (info, events) = unsafe { (&*info, &*(cookie as *const DeviceEvents)) };
    (ffi::fixed_str(&info.uri) == events.uri).then_some(events)
}

unsafe extern "C" fn on_disconnected(info: *const ffi::DeviceInfo, cookie: *mut c_void) {
    // SAFETY: the library passes an `OniDeviceInfo` and the cookie registered with it.
    if let Some(events) = unsafe { events_for(info, cookie) } {
        events.disconnected.store(true, Ordering::SeqCst);
    }
}

unsafe extern "C" fn on_state_changed(
    info: *const ffi::DeviceInfo,
    state: c_int,
    cookie: *mut c_void,
) {
    // SAFETY: as above.
    if let Some(events) = unsafe { events_for(info, cookie) }
        && state == ffi::DEVICE_STATE_EOF
    {
        events.end_of_file.store(true, Ordering::SeqCst);
    }
}

/// The path a URI names when it is a recording: it ends in `.oni` or is an existing file
/// (device URIs look like `1d27/0601@1/5`).
pub(super) fn recording_path(uri: &str) -> Option<PathBuf> {
    let path = Path::new(uri);
    (super::is_oni(path) || path.is_file()).then(|| path.to_owned())
}

/// Checks that `path` is a readable `.oni` file before OpenNI2 sees it: the library only says
/// "Couldn't open device" for a missing, unreadable or foreign file.
fn check_recording(path: &Path) -> Result<(), CameraError> {
    let fail = |problem: String| CameraError::Recording {
        path: path.to_owned(),
        problem,
    };
    let mut file = std::fs::File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            fail("no such file (an OpenNI2 recording, .oni, was expected)".into())
        } else {
            fail(format!("cannot read it: {e}"))
        }
    })?;
    if path.is_dir() {
        return Err(fail("is a folder, not an OpenNI2 recording (.oni)".into()));
    }
    let mut start = [0u8; 4];
    let read = std::io::Read::read(&mut file, &mut start)
        .map_err(|e| fail(format!("cannot read it: {e}")))?;
    if read < start.len() || &start != MAGIC {
        return Err(fail(
            "not an OpenNI2 recording: .oni files start with \"NI10\"".into(),
        ));
    }
    Ok(())
}

impl OpenNi2Camera {
    /// Opens the device `uri` names, or the first OpenNI2 finds when `None`, and starts its
    /// depth stream. A `.oni` file's path is a URI too: it plays once, at its own frame rate,
    /// and then [`next_frame`](DepthCamera::next_frame) reports [`CameraError::Stopped`].
    pub fn open(uri: Option<&str>) -> Result<OpenNi2Camera, CameraError> {
        let what = CameraSpec::OpenNi2(uri.map(str::to_owned)).to_string();
        let recording = match uri.and_then(recording_path) {
            Some(path) => {
                check_recording(&path)?;
                // Absolute: OpenNI2 changes the working directory while it loads its drivers.
                Some(std::path::absolute(&path).unwrap_or(path))
            }
            None => None,
        };
        let api = openni(&what)?;
        let mut handles = Handles {
            api,
            device: std::ptr::null_mut(),
            stream: std::ptr::null_mut(),
            started: false,
            file_device: recording.is_some(),
            callbacks: std::ptr::null_mut(),
            events: std::ptr::null_mut(),
        };
        // Declared after `handles`, so released before them on an early return: releasing
        // takes the lock again.
        let _guard = lock();
        let call_error = |call: &str| CameraError::Call {
            what: what.clone(),
            call: call.into(),
            detail: api.extended_error(),
        };

        let c_uri = match (&recording, uri) {
            (Some(path), _) => Some(path.as_os_str().to_string_lossy().into_owned()),
            (None, Some(uri)) => Some(uri.to_owned()),
            (None, None) => None,
        }
        .map(|u| {
            CString::new(u).map_err(|_| CameraError::NotFound {
                what: what.clone(),
                problem: "the URI contains a NUL character".into(),
            })
        })
        .transpose()?;
        // SAFETY: a NUL-terminated URI (or null for the first device) and an out-pointer.
        let rc = unsafe {
            (api.device_open)(
                c_uri.as_ref().map_or(std::ptr::null(), |u| u.as_ptr()),
                &mut handles.device,
            )
        };
        if rc != ffi::STATUS_OK || handles.device.is_null() {
            // oniDeviceOpen hands out a handle when the driver opened the device but the core
            // then failed; closing that is untested ground, so it is left alone.
            handles.device = std::ptr::null_mut();
            let detail = api.extended_error();
            return Err(match (&recording, uri) {
                (Some(path), _) => CameraError::Recording {
                    path: path.clone(),
                    problem: format!(
                        "OpenNI2 cannot play it ({detail}); it starts like a recording but may be damaged or from a newer OpenNI (OpenNI2 plays .oni files with its file driver, libOniFile.so, from OpenNI2/Drivers beside libOpenNI2.so.0)"
                    ),
                },
                (None, None) => CameraError::NotFound {
                    what,
                    problem: format!("no OpenNI2 device is connected ({detail})"),
                },
                (None, Some(_)) => CameraError::NotFound {
                    what,
                    problem: format!(
                        "OpenNI2 cannot open this device ({detail}); `hourhand` lists the cameras it finds"
                    ),
                },
            });
        }
        // The stream comes right after the device: closing a file device that never had a
        // stream makes the driver wait two seconds for its thread and then cancel it.
        // SAFETY: an open device and an out-pointer.
        let rc = unsafe {
            (api.device_create_stream)(handles.device, ffi::SENSOR_DEPTH, &mut handles.stream)
        };
        if rc != ffi::STATUS_OK || handles.stream.is_null() {
            handles.stream = std::ptr::null_mut();
            return Err(CameraError::NotFound {
                what,
                problem: format!("it has no depth stream ({})", api.extended_error()),
            });
        }

        // SAFETY: an open device and a buffer of the struct's size.
        let info = unsafe {
            let mut info: ffi::DeviceInfo = std::mem::zeroed();
            if (api.device_get_info)(handles.device, &mut info) != ffi::STATUS_OK {
                return Err(call_error("oniDeviceGetInfo"));
            }
            info
        };
        let device_uri = ffi::fixed_str(&info.uri);

        if recording.is_some() {
            let repeat: ffi::OniBool = 0;
            // SAFETY: the property's type is OniBool.
            let rc = unsafe {
                (api.device_set_property)(
                    handles.device,
                    ffi::DEVICE_PROPERTY_PLAYBACK_REPEAT_ENABLED,
                    (&raw const repeat).cast(),
                    size_of::<ffi::OniBool>() as c_int,
                )
            };
            if rc != ffi::STATUS_OK {
                return Err(call_error("setting PLAYBACK_REPEAT_ENABLED"));
            }
        }

        let mode = depth_mode(api, handles.stream, &what)?;
        let horizontal_fov = stream_float(api, handles.stream, ffi::STREAM_PROPERTY_HORIZONTAL_FOV)
            .ok_or_else(|| call_error("reading the stream's HORIZONTAL_FOV"))?;
        let vertical_fov = stream_float(api, handles.stream, ffi::STREAM_PROPERTY_VERTICAL_FOV)
            .ok_or_else(|| call_error("reading the stream's VERTICAL_FOV"))?;
        let recording_frames = recording.as_ref().and_then(|_| {
            stream_int(api, handles.stream, ffi::STREAM_PROPERTY_NUMBER_OF_FRAMES)
                .and_then(|n| u32::try_from(n).ok())
                .filter(|&n| n > 0 && n != u32::MAX)
        });

        let events = Box::into_raw(Box::new(DeviceEvents {
            uri: device_uri.clone(),
            end_of_file: AtomicBool::new(false),
            disconnected: AtomicBool::new(false),
        }));
        handles.events = events;
        let mut callbacks = ffi::DeviceCallbacks {
            device_connected: Some(on_connected),
            device_disconnected: Some(on_disconnected),
            device_state_changed: Some(on_state_changed),
        };
        // SAFETY: the library copies the function pointers; the cookie lives until the
        // callbacks are unregistered (Handles::drop).
        let rc = unsafe {
            (api.register_device_callbacks)(&mut callbacks, events.cast(), &mut handles.callbacks)
        };
        if rc != ffi::STATUS_OK {
            handles.callbacks = std::ptr::null_mut();
            return Err(call_error("oniRegisterDeviceCallbacks"));
        }

        // SAFETY: a created stream.
        if unsafe { (api.stream_start)(handles.stream) } != ffi::STATUS_OK {
            return Err(call_error("oniStreamStart"));
        }
        handles.started = true;

        let description = match &recording {
            Some(path) => format!(
                "OpenNI2 recording {} ({}×{} at {} fps)",
                path.display(),
                mode.resolution_x,
                mode.resolution_y,
                mode.fps
            ),
            None => format!(
                "{} {} (OpenNI2, {device_uri})",
                ffi::fixed_str(&info.vendor),
                ffi::fixed_str(&info.name)
            ),
        };
        Ok(OpenNi2Camera {
            handles,
            what,
            description,
            horizontal_fov,
            vertical_fov,
            mode,
            crop_origin: (0.0, 0.0),
            recording_frames,
            frames_read: 0,
            recording_done: false,
        })
    }

    /// Whether the camera stopped: the recording ended or the device was unplugged.
    fn stopped(&self) -> Option<CameraError> {
        // SAFETY: `events` lives as long as the handles.
        let events = unsafe { &*self.handles.events };
        let problem = if events.end_of_file.load(Ordering::SeqCst) {
            format!(
                "the recording ended after {} frame{} (it is played once)",
                self.frames_read,
                if self.frames_read == 1 { "" } else { "s" }
            )
        } else if events.disconnected.load(Ordering::SeqCst) {
            "the camera was disconnected".into()
        } else {
            return None;
        };
        Some(CameraError::Stopped {
            what: self.what.clone(),
            problem,
        })
    }

    /// Copies a frame the library handed out into millimetres.
    fn convert(&mut self, frame: &ffi::Frame) -> Result<CameraFrame, CameraError> {
        let bad = |problem: String| CameraError::Call {
            what: self.what.clone(),
            call: "oniStreamReadFrame".into(),
            detail: problem,
        };
        let scale = match frame.video_mode.pixel_format {
            ffi::PIXEL_FORMAT_DEPTH_1_MM => 1.0,
            ffi::PIXEL_FORMAT_DEPTH_100_UM => 0.1,
            other => {
                return Err(bad(format!(
                    "a frame came in pixel format {other}, not depth"
                )));
            }
        };
        let (width, height) = (frame.width.max(0) as usize, frame.height.max(0) as usize);
        let stride = if frame.stride > 0 {
            frame.stride as usize
        } else {
            width * 2
        };
        let needed = stride * height.saturating_sub(1) + width * 2;
        if width == 0
            || height == 0
            || stride < width * 2
            || frame.data.is_null()
            || (frame.data_size.max(0) as usize) < needed
        {
            return Err(bad(format!(
                "a {width}×{height} frame with stride {stride} came with {} bytes",
                frame.data_size
            )));
        }
        // SAFETY: the library's buffer holds `data_size` bytes, checked to cover every row.
        let bytes = unsafe { std::slice::from_raw_parts(frame.data as *const u8, needed) };
        let mut mm = Vec::with_capacity(width * height);
        for row in 0..height {
            let row = &bytes[row * stride..row * stride + width * 2];
            mm.extend(
                row.chunks_exact(2)
                    .map(|p| f32::from(u16::from_ne_bytes([p[0], p[1]])) * scale),
            );
        }
        let depth = DepthMap::new(width, height, mm).map_err(|e| bad(e.to_string()))?;
        self.mode = frame.video_mode;
        self.crop_origin = if frame.cropping_enabled != 0 {
            (
                f64::from(frame.crop_origin_x),
                f64::from(frame.crop_origin_y),
            )
        } else {
            (0.0, 0.0)
        };
        Ok(CameraFrame {
            depth,
            received: Instant::now(),
            timestamp: frame.timestamp,
        })
    }
}

/// The stream's video mode, switched to one in millimetres (or 100 µm) when the device starts
/// in another depth format (raw shift values, which need the device's calibration to convert).
fn depth_mode(api: &Api, stream: StreamHandle, what: &str) -> Result<VideoMode, CameraError> {
    let is_depth = |m: &VideoMode| {
        matches!(
            m.pixel_format,
            ffi::PIXEL_FORMAT_DEPTH_1_MM | ffi::PIXEL_FORMAT_DEPTH_100_UM
        )
    };
    let mut mode = VideoMode::default();
    let mut size = size_of::<VideoMode>() as c_int;
    // SAFETY: the property's type is OniVideoMode.
    let rc = unsafe {
        (api.stream_get_property)(
            stream,
            ffi::STREAM_PROPERTY_VIDEO_MODE,
            (&raw mut mode).cast(),
            &mut size,
        )
    };
    if rc != ffi::STATUS_OK {
        return Err(CameraError::Call {
            what: what.into(),
            call: "reading the depth stream's VIDEO_MODE".into(),
            detail: api.extended_error(),
        });
    }
    if is_depth(&mode) {
        return Ok(mode);
    }
    // SAFETY: the sensor info and its modes belong to the stream, read before it changes.
    let modes: Vec<VideoMode> = unsafe {
        let info = (api.stream_get_sensor_info)(stream);
        if info.is_null() || (*info).supported_video_modes.is_null() {
            Vec::new()
        } else {
            let n = (*info).num_supported_video_modes.max(0) as usize;
            std::slice::from_raw_parts((*info).supported_video_modes, n).to_vec()
        }
    };
    let same_size =
        |m: &&VideoMode| m.resolution_x == mode.resolution_x && m.resolution_y == mode.resolution_y;
    let Some(choice) = modes
        .iter()
        .filter(|m| is_depth(m))
        .find(same_size)
        .or_else(|| modes.iter().find(|m| is_depth(m)))
        .copied()
    else {
        return Err(CameraError::Call {
            what: what.into(),
            call: "choosing a depth video mode".into(),
            detail: format!(
                "the stream gives pixel format {} and offers no mode in millimetres",
                mode.pixel_format
            ),
        });
    };
    // SAFETY: as above.
    let rc = unsafe {
        (api.stream_set_property)(
            stream,
            ffi::STREAM_PROPERTY_VIDEO_MODE,
            (&raw const choice).cast(),
            size_of::<VideoMode>() as c_int,
        )
    };
    if rc != ffi::STATUS_OK {
        return Err(CameraError::Call {
            what: what.into(),
            call: "setting the depth stream's VIDEO_MODE".into(),
            detail: api.extended_error(),
        });
    }
    Ok(choice)
}

fn stream_float(api: &Api, stream: StreamHandle, property: c_int) -> Option<f64> {
    let mut value = 0f32;
    let mut size = size_of::<f32>() as c_int;
    // SAFETY: the FOV properties are floats.
    let rc =
        unsafe { (api.stream_get_property)(stream, property, (&raw mut value).cast(), &mut size) };
    (rc == ffi::STATUS_OK && value.is_finite() && value > 0.0).then_some(f64::from(value))
}

fn stream_int(api: &Api, stream: StreamHandle, property: c_int) -> Option<c_int> {
    let mut value: c_int = 0;
    let mut size = size_of::<c_int>() as c_int;
    // SAFETY: the property is an int.
    let rc =
        unsafe { (api.stream_get_property)(stream, property, (&raw mut value).cast(), &mut size) };
    (rc == ffi::STATUS_OK).then_some(value)
}

impl DepthCamera for OpenNi2Camera {
    fn describe(&self) -> String {
        self.description.clone()
    }

    /// From the fields of view at the resolution of the frames: fx = w / 2 / tan(hfov / 2),
    /// cx = w / 2 (less the crop origin when the device crops), likewise fy and cy.
    fn intrinsics(&self) -> Intrinsics {
        let (w, h) = (
            f64::from(self.mode.resolution_x),
            f64::from(self.mode.resolution_y),
        );
        Intrinsics {
            fx: w / 2.0 / (self.horizontal_fov / 2.0).tan(),
            fy: h / 2.0 / (self.vertical_fov / 2.0).tan(),
            cx: w / 2.0 - self.crop_origin.0,
            cy: h / 2.0 - self.crop_origin.1,
        }
    }

    fn next_frame(&mut self, timeout: Duration) -> Result<Option<CameraFrame>, CameraError> {
        if self.recording_done {
            // Every frame was read: wait for the driver's end of file, which comes after it has
            // finished handing over the last frame (see `Handles::drop`).
            let until = Instant::now() + timeout;
            loop {
                if let Some(e) = self.stopped() {
                    return Err(e);
                }
                if Instant::now() >= until {
                    return Ok(None);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let api = self.handles.api;
        let mut stream = self.handles.stream;
        let mut index: c_int = -1;
        let ms = timeout.as_millis().min(i32::MAX as u128) as c_int;
        // SAFETY: one started stream.
        let rc = unsafe { (api.wait_for_any_stream)(&mut stream, 1, &mut index, ms) };
        if rc == ffi::STATUS_TIME_OUT {
            // A frame queued before the end was reported would have been returned above.
            return match self.stopped() {
                Some(e) => Err(e),
                None => Ok(None),
            };
        }
        if rc != ffi::STATUS_OK {
            return Err(self.stopped().unwrap_or_else(|| CameraError::Call {
                what: self.what.clone(),
                call: "oniWaitForAnyStream".into(),
                detail: api.extended_error(),
            }));
        }
        let mut frame: *mut ffi::Frame = std::ptr::null_mut();
        // SAFETY: the stream has a frame ready; it is released below, after the copy.
        let rc = unsafe { (api.stream_read_frame)(self.handles.stream, &mut frame) };
        if rc != ffi::STATUS_OK || frame.is_null() {
            return Err(CameraError::Call {
                what: self.what.clone(),
                call: "oniStreamReadFrame".into(),
                detail: api.extended_error(),
            });
        }
        // SAFETY: a frame the library handed out, valid until released.
        let (converted, index) = unsafe { (self.convert(&*frame), (*frame).frame_index) };
        // SAFETY: released once, not used after.
        unsafe { (api.frame_release)(frame) };
        let converted = converted?;
        self.frames_read += 1;
        if let Some(total) = self.recording_frames
            && u32::try_from(index).is_ok_and(|i| i >= total)
        {
            self.recording_done = true;
        }
        Ok(Some(converted))
    }
}
