//! Composes the WGSL shaders. Each shader under `shaders/` is a WESL file: plain WGSL plus
//! `import` statements that pull shared declarations (the dispatch preamble, parameter structs,
//! reductions) from the modules under a `lib/` folder, so they are written once. The `wesl`
//! compiler resolves the imports into one self-contained WGSL module per shader, written to
//! `$OUT_DIR/shaders/<path>.wgsl`, which the crate embeds with `include_str!`. Names are kept as
//! written (no mangling), so entry points, `override`s and the structs `tests/shaders.rs`
//! checks against their Rust twins keep their names; declarations a shader does not use are
//! left out. A shader with a line `// variants: FEATURE, …` is also composed with each such
//! conditional-compilation feature on (`@if(FEATURE)` in WESL), into `<path>.FEATURE.wgsl`:
//! `f16_weights` reads the weights as f16 pairs packed in `u32`s.

use std::path::{Path, PathBuf};

fn main() {
    let root = Path::new("shaders");
    // A folder: cargo reruns this when anything under it changes, files added included.
    println!("cargo::rerun-if-changed={}", root.display());
    let out =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("shaders");
    let mut compiler = wesl::Wesl::new(root);
    compiler.set_mangler(wesl::ManglerKind::None);
    let mut failed = Vec::new();
    for shader in shader_roots(root) {
        let rel = shader
            .strip_prefix(root)
            .expect("under shaders/")
            .with_extension("");
        let module = format!(
            "package::{}",
            rel.components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("::")
        );
        let path = module
            .parse()
            .unwrap_or_else(|e| panic!("{}: not a module path: {e}", shader.display()));
        let plain = match compiler.compile(&path) {
            Ok(wgsl) => wgsl.to_string(),
            Err(e) => {
                failed.push(format!("{}: {e}", shader.display()));
                continue;
            }
        };
        let target = out.join(&rel).with_extension("wgsl");
        std::fs::create_dir_all(target.parent().expect("has a folder"))
            .expect("OUT_DIR is writable");
        std::fs::write(&target, &plain).expect("OUT_DIR is writable");
        // Variants: the shader with a conditional-compilation feature on (`@if(feature)` in
        // it or the modules it imports), for each feature its `// variants:` line names,
        // written as `<shader>.<feature>.wgsl`.
        let source = std::fs::read_to_string(&shader).expect("shader files are readable");
        let features: Vec<&str> = source
            .lines()
            .filter_map(|l| l.strip_prefix("// variants:"))
            .flat_map(|l| l.split(',').map(str::trim))
            .collect();
        for feature in features {
            compiler.set_feature(feature, true);
            let variant = compiler.compile(&path).map(|w| w.to_string());
            compiler.unset_feature(feature);
            match variant {
                Ok(wgsl) if wgsl != plain => {
                    let target = out.join(&rel).with_extension(format!("{feature}.wgsl"));
                    std::fs::write(&target, wgsl).expect("OUT_DIR is writable");
                }
                Ok(_) => failed.push(format!(
                    "{}: variant {feature} is the shader itself (no `@if({feature})` reached)",
                    shader.display()
                )),
                Err(e) => failed.push(format!("{} with {feature}: {e}", shader.display())),
            }
        }
    }
    if !failed.is_empty() {
        panic!("shader composition failed:\n{}", failed.join("\n"));
    }
}

/// The shaders to compose: every `.wesl` file under `dir` outside `lib/` folders (those hold
/// the shared modules, composed into the shaders that import them), in a stable order.
fn shader_roots(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("readable folder").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            // lib/ holds shared modules, composed into the shaders that import them.
            if path.file_name().is_some_and(|n| n != "lib") {
                found.extend(shader_roots(&path));
            }
        } else if path.extension().is_some_and(|e| e == "wesl") {
            found.push(path);
        }
    }
    found
}
