//! SPIR-V from naga, checked by the Khronos validator (`spirv-val`): shared by the compute
//! kernels' and the 3D view's shader tests.

use std::path::Path;
use std::process::Command;

/// Writes `module` as SPIR-V of `version` (major, minor) to `dir/name.spv` and asserts
/// `spirv-val` accepts it for Vulkan 1.1.
pub fn assert_valid_spirv(
    module: &naga::Module,
    info: &naga::valid::ModuleInfo,
    name: &str,
    dir: &Path,
    version: (u8, u8),
) {
    let options = naga::back::spv::Options {
        lang_version: version,
        ..Default::default()
    };
    let words = naga::back::spv::write_vec(module, info, &options, None)
        .unwrap_or_else(|e| panic!("{name}: SPIR-V: {e}"));
    let path = dir.join(format!("{name}.spv"));
    std::fs::write(&path, bytemuck::cast_slice::<u32, u8>(&words)).unwrap();
    let out = Command::new("spirv-val")
        .arg("--target-env")
        .arg("vulkan1.1")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: spirv-val: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
