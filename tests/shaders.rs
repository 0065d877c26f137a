//! Portability of every shader without the hardware: naga parses and validates each one,
//! resolves its `override`s, and writes SPIR-V (checked by `spirv-val`), MSL and HLSL, checking
//! the per-entry-point results those backends report. Also checks that each Rust uniform struct
//! has the size and field offsets of its WGSL twin.

use std::process::Command;

mod common;
#[path = "common/spirv.rs"]
mod spirv;

use hourhand::gpu::kernels::{Kernel, WORKGROUP_SIZE};
use naga::back::PipelineConstants;
use naga::valid::{Capabilities, ValidationFlags, Validator};

/// What naga may assume of the device: nothing beyond WebGPU, or what the kernel requires
/// (subgroup operations, which the device is asked for where it has them; f16 unpacking).
fn capabilities(kernel: Kernel) -> Capabilities {
    let mut caps = Capabilities::empty();
    if kernel
        .required_features()
        .contains(wgpu::Features::SUBGROUP)
    {
        caps |= Capabilities::SUBGROUP;
    }
    if kernel.source().variant == Some("f16_weights") {
        // `unpack2x16float`, which wgpu allows where the adapter has SHADER_F16_IN_F32.
        caps |= Capabilities::SHADER_FLOAT16_IN_FLOAT32;
    }
    caps
}

fn parse(kernel: Kernel) -> (naga::Module, naga::valid::ModuleInfo) {
    let src = kernel.source();
    let module = naga::front::wgsl::parse_str(src.wgsl)
        .unwrap_or_else(|e| panic!("{}: {}", src.shader, e.emit_to_string(src.wgsl)));
    let info = Validator::new(ValidationFlags::all(), capabilities(kernel))
        .validate(&module)
        .unwrap_or_else(|e| panic!("{}: {}", src.shader, e.emit_to_string(src.wgsl)));
    (module, info)
}

/// Every shader under `shaders/` (outside `lib/` and the viewer's `view/`) belongs to a kernel,
/// so none is left untested, and every kernel's composed source is self-contained: the
/// imports are resolved and nothing shared is left to write again.
#[test]
fn every_shader_file_is_a_kernel() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|f| f.strip_suffix(".wesl").map(str::to_string))
        .collect();
    files.sort();
    let mut known: Vec<String> = Kernel::ALL
        .iter()
        .map(|k| k.source().shader.to_string())
        .collect();
    known.sort();
    known.dedup();
    assert_eq!(files, known);
    for k in Kernel::ALL {
        let src = k.source();
        assert!(
            !src.wgsl.contains("import "),
            "{}: an import was left unresolved",
            src.shader
        );
    }
}

/// Every shared module under `shaders/lib/` is imported by some shader, and none repeats a
/// struct another shader or module declares (the point of composing them).
#[test]
fn shared_declarations_are_written_once() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut sources = Vec::new();
    for sub in ["", "lib"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "wesl") {
                sources.push((path.clone(), std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let mut structs: std::collections::HashMap<String, std::path::PathBuf> = Default::default();
    for (path, text) in &sources {
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("struct ") {
                let name = rest.split_whitespace().next().unwrap().to_string();
                if let Some(first) = structs.insert(name.clone(), path.clone()) {
                    panic!(
                        "struct {name} is declared in {} and again in {}: import it",
                        first.display(),
                        path.display()
                    );
                }
            }
        }
    }
    for (path, _) in sources
        .iter()
        .filter(|(p, _)| p.parent().unwrap().ends_with("lib"))
    {
        let module = format!(
            "package::lib::{}",
            path.file_stem().unwrap().to_string_lossy()
        );
        assert!(
            sources.iter().any(|(_, text)| text.contains(&module)),
            "{}: imported by no shader",
            path.display()
        );
    }
}

#[test]
fn shaders_translate_to_spirv_msl_and_hlsl() {
    let spirv_val = Command::new("spirv-val").arg("--version").output().is_ok();
    assert!(
        spirv_val,
        "spirv-val not found: install Debian's `spirv-tools` (the README's test command, `bash .ci/test`, does it)"
    );
    let tmp = common::scratch("spirv", "compute");
    for &kernel in Kernel::ALL {
        let src = kernel.source();
        let (module, info) = parse(kernel);
        let ep = module
            .entry_points
            .iter()
            .find(|e| e.name == src.entry)
            .unwrap_or_else(|| panic!("{}: no entry point {}", src.shader, src.entry));
        assert_eq!(ep.stage, naga::ShaderStage::Compute);
        assert!(
            !module.overrides.is_empty(),
            "{}: expected a WG_SIZE override",
            src.shader
        );

        let mut constants = PipelineConstants::default();
        constants.insert("WG_SIZE".to_string(), WORKGROUP_SIZE as f64);
        let (module, info) = naga::back::pipeline_constants::process_overrides(
            &module,
            &info,
            Some((naga::ShaderStage::Compute, src.entry)),
            &constants,
        )
        .unwrap_or_else(|e| panic!("{}: overrides: {e}", src.shader));
        let ep = module
            .entry_points
            .iter()
            .find(|e| e.name == src.entry)
            .unwrap();
        assert_eq!(
            ep.workgroup_size,
            [WORKGROUP_SIZE, 1, 1],
            "{}: workgroup size after overrides",
            src.shader
        );
        assert!(
            ep.workgroup_size.iter().product::<u32>() <= 256,
            "{}: over WebGPU's 256 invocations",
            src.shader
        );

        // SPIR-V, validated by the Khronos validator.
        // Subgroup operations need SPIR-V 1.3 (Vulkan 1.1), MSL 2.1 and HLSL shader model 6.0,
        // the versions wgpu asks for on devices with the feature; everything else the oldest.
        let subgroups = capabilities(kernel).contains(Capabilities::SUBGROUP);
        let spirv_version = if subgroups { (1, 3) } else { (1, 0) };
        spirv::assert_valid_spirv(&module, &info, src.entry, &tmp, spirv_version);

        // MSL: errors of individual entry points are reported inside the translation info.
        let (msl, msl_info) = naga::back::msl::write_string(
            &module,
            &info,
            &naga::back::msl::Options {
                lang_version: if subgroups { (2, 1) } else { (2, 0) },
                ..Default::default()
            },
            &naga::back::msl::PipelineOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{}: MSL: {e}", src.shader));
        for r in &msl_info.entry_point_names {
            assert!(r.is_ok(), "{}: MSL entry point: {r:?}", src.shader);
        }
        assert!(
            msl.contains("kernel void"),
            "{}: MSL has no kernel",
            src.shader
        );

        // HLSL, likewise.
        let mut hlsl = String::new();
        let options = naga::back::hlsl::Options {
            shader_model: if subgroups {
                naga::back::hlsl::ShaderModel::V6_0
            } else {
                naga::back::hlsl::ShaderModel::V5_1
            },
            ..Default::default()
        };
        let pipeline = naga::back::hlsl::PipelineOptions::default();
        let reflection = naga::back::hlsl::Writer::new(&mut hlsl, &options, &pipeline)
            .write(&module, &info, None)
            .unwrap_or_else(|e| panic!("{}: HLSL: {e}", src.shader));
        for r in &reflection.entry_point_names {
            assert!(r.is_ok(), "{}: HLSL entry point: {r:?}", src.shader);
        }
        assert!(
            hlsl.contains("[numthreads(64, 1, 1)]"),
            "{}: HLSL lacks the workgroup size",
            src.shader
        );
    }
}

#[test]
fn uniform_structs_match_their_wgsl_twins() {
    for &kernel in Kernel::ALL {
        let layout = kernel.layout();
        let (module, _) = parse(kernel);
        let file = kernel.source().shader;
        let (_, ty) = module
            .types
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some(layout.name))
            .unwrap_or_else(|| panic!("{file}: no struct {}", layout.name));
        let naga::TypeInner::Struct { members, span } = &ty.inner else {
            panic!("{file}: {} is not a struct", layout.name)
        };
        assert_eq!(
            *span as usize, layout.size,
            "{file}: size of {}",
            layout.name
        );
        assert_eq!(
            members.len(),
            layout.fields.len(),
            "{file}: field count of {}",
            layout.name
        );
        for (m, (name, offset)) in members.iter().zip(layout.fields) {
            assert_eq!(
                m.name.as_deref(),
                Some(*name),
                "{file}: field order of {}",
                layout.name
            );
            assert_eq!(
                m.offset as usize, *offset,
                "{file}: offset of {}.{name}",
                layout.name
            );
        }
        assert_eq!(
            layout.size % 16,
            0,
            "{file}: uniform structs are padded to 16 bytes"
        );
    }
}
