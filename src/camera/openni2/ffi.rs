//! The part of OpenNI2's C API (`OniCAPI.h`, `OniCTypes.h`, `OniCEnums.h`, `OniCProperties.h`,
//! version 2.2) hourhand calls, declared by hand because the library is loaded at run time, not
//! linked. Every struct is `repr(C)` with the header's field order and types; the tests check
//! the sizes against the headers' layout on 64-bit Linux.

use std::ffi::{c_char, c_int, c_void};

use super::super::CameraError;
use super::super::library::{VendorLibrary, symbol};

/// libOpenNI2, as Debian installs it (`/usr/lib/<arch>/libOpenNI2.so.0`, its drivers in
/// `/usr/lib/<arch>/OpenNI2/Drivers`).
pub const LIBRARY: VendorLibrary = VendorLibrary {
    names: &[
        "libOpenNI2.so.0",
        "libOpenNI2.so",
        "libOpenNI2.dylib",
        "OpenNI2.dll",
    ],
    package: "libopenni2-0",
};

/// `ONI_API_VERSION` for OpenNI 2.2: `ONI_CREATE_API_VERSION(2, 2)` = 2 × 1000 + 2.
pub const API_VERSION: c_int = 2002;

/// `OniStatus` (OniCEnums.h), returned by most calls.
pub type Status = c_int;
pub const STATUS_OK: Status = 0;
pub const STATUS_TIME_OUT: Status = 102;

/// `OniSensorType`: `ONI_SENSOR_DEPTH`.
pub const SENSOR_DEPTH: c_int = 3;

/// `OniPixelFormat` values for depth.
pub const PIXEL_FORMAT_DEPTH_1_MM: c_int = 100;
pub const PIXEL_FORMAT_DEPTH_100_UM: c_int = 101;

/// `OniDeviceState`: `ONI_DEVICE_STATE_EOF`, what the file driver reports at the end of a
/// recording that does not repeat.
pub const DEVICE_STATE_EOF: c_int = 3;

/// Device properties (OniCProperties.h).
pub const DEVICE_PROPERTY_PLAYBACK_REPEAT_ENABLED: c_int = 101;

/// Stream properties (OniCProperties.h).
pub const STREAM_PROPERTY_HORIZONTAL_FOV: c_int = 1;
pub const STREAM_PROPERTY_VERTICAL_FOV: c_int = 2;
pub const STREAM_PROPERTY_VIDEO_MODE: c_int = 3;
pub const STREAM_PROPERTY_NUMBER_OF_FRAMES: c_int = 8;

/// `ONI_MAX_STR`.
pub const MAX_STR: usize = 256;

/// `OniBool`.
pub type OniBool = c_int;

/// `OniVideoMode`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VideoMode {
    /// `OniPixelFormat`.
    pub pixel_format: c_int,
    pub resolution_x: c_int,
    pub resolution_y: c_int,
    pub fps: c_int,
}

/// `OniSensorInfo`; the video modes belong to the library.
#[repr(C)]
pub struct SensorInfo {
    pub sensor_type: c_int,
    pub num_supported_video_modes: c_int,
    pub supported_video_modes: *const VideoMode,
}

/// `OniDeviceInfo`.
#[repr(C)]
pub struct DeviceInfo {
    pub uri: [c_char; MAX_STR],
    pub vendor: [c_char; MAX_STR],
    pub name: [c_char; MAX_STR],
    pub usb_vendor_id: u16,
    pub usb_product_id: u16,
}

/// `OniFrame`; the pixels belong to the library until `oniFrameRelease`.
#[repr(C)]
pub struct Frame {
    pub data_size: c_int,
    pub data: *mut c_void,
    pub sensor_type: c_int,
    /// Microseconds.
    pub timestamp: u64,
    pub frame_index: c_int,
    pub width: c_int,
    pub height: c_int,
    pub video_mode: VideoMode,
    pub cropping_enabled: OniBool,
    pub crop_origin_x: c_int,
    pub crop_origin_y: c_int,
    /// Bytes from one row to the next.
    pub stride: c_int,
}

/// `OniDeviceInfoCallback`.
pub type DeviceInfoCallback = unsafe extern "C" fn(info: *const DeviceInfo, cookie: *mut c_void);
/// `OniDeviceStateCallback`.
pub type DeviceStateCallback =
    unsafe extern "C" fn(info: *const DeviceInfo, state: c_int, cookie: *mut c_void);

/// `OniDeviceCallbacks`.
#[repr(C)]
pub struct DeviceCallbacks {
    pub device_connected: Option<DeviceInfoCallback>,
    pub device_disconnected: Option<DeviceInfoCallback>,
    pub device_state_changed: Option<DeviceStateCallback>,
}

/// `OniDeviceHandle`, `OniStreamHandle`, `OniCallbackHandle`: opaque pointers.
pub type DeviceHandle = *mut c_void;
pub type StreamHandle = *mut c_void;
pub type CallbackHandle = *mut c_void;

/// The library's entry points hourhand uses.
pub struct Api {
    pub initialize: unsafe extern "C" fn(api_version: c_int) -> Status,
    pub get_extended_error: unsafe extern "C" fn() -> *const c_char,
    pub get_device_list: unsafe extern "C" fn(*mut *mut DeviceInfo, *mut c_int) -> Status,
    pub release_device_list: unsafe extern "C" fn(*mut DeviceInfo) -> Status,
    pub register_device_callbacks:
        unsafe extern "C" fn(*mut DeviceCallbacks, *mut c_void, *mut CallbackHandle) -> Status,
    pub unregister_device_callbacks: unsafe extern "C" fn(CallbackHandle),
    pub wait_for_any_stream:
        unsafe extern "C" fn(*mut StreamHandle, c_int, *mut c_int, c_int) -> Status,
    pub device_open: unsafe extern "C" fn(*const c_char, *mut DeviceHandle) -> Status,
    pub device_close: unsafe extern "C" fn(DeviceHandle) -> Status,
    pub device_get_info: unsafe extern "C" fn(DeviceHandle, *mut DeviceInfo) -> Status,
    pub device_create_stream:
        unsafe extern "C" fn(DeviceHandle, c_int, *mut StreamHandle) -> Status,
    pub device_set_property:
        unsafe extern "C" fn(DeviceHandle, c_int, *const c_void, c_int) -> Status,
    pub stream_destroy: unsafe extern "C" fn(StreamHandle),
    pub stream_get_sensor_info: unsafe extern "C" fn(StreamHandle) -> *const SensorInfo,
    pub stream_start: unsafe extern "C" fn(StreamHandle) -> Status,
    pub stream_stop: unsafe extern "C" fn(StreamHandle),
    pub stream_read_frame: unsafe extern "C" fn(StreamHandle, *mut *mut Frame) -> Status,
    pub stream_set_property:
        unsafe extern "C" fn(StreamHandle, c_int, *const c_void, c_int) -> Status,
    pub stream_get_property:
        unsafe extern "C" fn(StreamHandle, c_int, *mut c_void, *mut c_int) -> Status,
    pub frame_release: unsafe extern "C" fn(*mut Frame),
    _library: libloading::Library,
}

impl Api {
    /// Loads `library` and looks up every entry point (nothing is called yet).
    pub fn load(library: &VendorLibrary, what: &str) -> Result<Api, CameraError> {
        let library = library.load(what)?;
        // SAFETY: each type is the function's signature in OniCAPI.h (OpenNI 2.2).
        unsafe {
            Ok(Api {
                initialize: symbol(&library, "oniInitialize", what)?,
                get_extended_error: symbol(&library, "oniGetExtendedError", what)?,
                get_device_list: symbol(&library, "oniGetDeviceList", what)?,
                release_device_list: symbol(&library, "oniReleaseDeviceList", what)?,
                register_device_callbacks: symbol(&library, "oniRegisterDeviceCallbacks", what)?,
                unregister_device_callbacks: symbol(
                    &library,
                    "oniUnregisterDeviceCallbacks",
                    what,
                )?,
                wait_for_any_stream: symbol(&library, "oniWaitForAnyStream", what)?,
                device_open: symbol(&library, "oniDeviceOpen", what)?,
                device_close: symbol(&library, "oniDeviceClose", what)?,
                device_get_info: symbol(&library, "oniDeviceGetInfo", what)?,
                device_create_stream: symbol(&library, "oniDeviceCreateStream", what)?,
                device_set_property: symbol(&library, "oniDeviceSetProperty", what)?,
                stream_destroy: symbol(&library, "oniStreamDestroy", what)?,
                stream_get_sensor_info: symbol(&library, "oniStreamGetSensorInfo", what)?,
                stream_start: symbol(&library, "oniStreamStart", what)?,
                stream_stop: symbol(&library, "oniStreamStop", what)?,
                stream_read_frame: symbol(&library, "oniStreamReadFrame", what)?,
                stream_set_property: symbol(&library, "oniStreamSetProperty", what)?,
                stream_get_property: symbol(&library, "oniStreamGetProperty", what)?,
                frame_release: symbol(&library, "oniFrameRelease", what)?,
                _library: library,
            })
        }
    }

    /// The library's description of the last failure on this thread, trimmed (it starts with
    /// a tab and ends with a newline); "no details" when it has none.
    pub fn extended_error(&self) -> String {
        // SAFETY: a NUL-terminated string the library owns, valid until the next call.
        let text = unsafe {
            let p = (self.get_extended_error)();
            if p.is_null() {
                String::new()
            } else {
                std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        };
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() {
            "no details".into()
        } else {
            text
        }
    }
}

/// A fixed `char[ONI_MAX_STR]` field as text, up to its first NUL.
pub fn fixed_str(chars: &[c_char; MAX_STR]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn structs_match_the_headers() {
        // OniVideoMode: four ints.
        assert_eq!(size_of::<VideoMode>(), 16);
        // OniSensorInfo: int, int, pointer.
        assert_eq!(size_of::<SensorInfo>(), 16);
        assert_eq!(offset_of!(SensorInfo, supported_video_modes), 8);
        // OniDeviceInfo: three char[256], two uint16_t.
        assert_eq!(size_of::<DeviceInfo>(), 3 * 256 + 4);
        assert_eq!(offset_of!(DeviceInfo, usb_product_id), 3 * 256 + 2);
        // OniFrame: int, (pad), void*, enum, (pad), uint64_t, 3 ints, OniVideoMode, 4 ints.
        assert_eq!(offset_of!(Frame, data), 8);
        assert_eq!(offset_of!(Frame, sensor_type), 16);
        assert_eq!(offset_of!(Frame, timestamp), 24);
        assert_eq!(offset_of!(Frame, frame_index), 32);
        assert_eq!(offset_of!(Frame, video_mode), 44);
        assert_eq!(offset_of!(Frame, stride), 72);
        assert_eq!(size_of::<Frame>(), 80);
        // OniDeviceCallbacks: three function pointers.
        assert_eq!(size_of::<DeviceCallbacks>(), 24);
    }

    #[test]
    fn fixed_strings_stop_at_the_nul() {
        let mut chars = [0 as c_char; MAX_STR];
        for (c, b) in chars.iter_mut().zip(b"PrimeSense") {
            *c = *b as c_char;
        }
        assert_eq!(fixed_str(&chars), "PrimeSense");
    }
}
