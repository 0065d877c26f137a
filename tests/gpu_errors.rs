//! What goes wrong on a GPU comes back as an error saying what to try, never as a panic: a
//! shader the device rejects, and a device that is lost (a driver reset, a GPU removed).

mod common;

use common::{fresh_gpu, rng, uniform};
use hourhand::gpu::kernels::{Kernel, KernelSource};
use hourhand::gpu::{GpuError, GpuNet};
use hourhand::net::{NetConfig, Network, Weights};

#[test]
fn a_shader_the_device_rejects_is_an_error_not_a_panic() {
    let ctx = fresh_gpu();
    // Every kernel we ship compiles.
    assert!(Kernel::Peak.pipeline(&ctx.device, None).is_ok());
    let broken = KernelSource {
        shader: "broken",
        variant: None,
        wgsl: "override WG_SIZE: u32 = 64u;\n@compute @workgroup_size(WG_SIZE)\nfn main() { let x: f32 = not_declared; }\n",
        entry: "main",
    };
    let e = broken.pipeline(&ctx.device, None).unwrap_err();
    assert!(matches!(e, GpuError::Pipeline { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("main in shaders/broken.wesl") && text.contains("--backend cpu"),
        "{text}"
    );
    // The device is still usable, and its error was caught, not left for later.
    assert!(ctx.check().is_ok());
    assert!(Kernel::Peak.pipeline(&ctx.device, None).is_ok());
}

#[test]
fn a_lost_device_is_an_error_saying_what_to_try() {
    let ctx = fresh_gpu();
    let config = NetConfig::tiny();
    let net = Network::from_weights(&Weights::init(&config, 1).unwrap());
    let side = config.input_size as usize;
    let x = uniform(&mut rng(2), side * side, -1.0, 1.0);
    let mut gpu_net = GpuNet::from_network(ctx.clone(), &net).unwrap();
    gpu_net.forward(&[&x], 1).unwrap();

    ctx.device.destroy();
    let e = gpu_net.forward(&[&x], 1).unwrap_err();
    assert!(matches!(e, GpuError::DeviceLost { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("was lost") && text.contains("--backend cpu"),
        "{text}"
    );
    // And it stays an error.
    assert!(gpu_net.forward(&[&x], 1).is_err());
}

/// The viewer's inference thread on a device that is lost: the engine is reported failed
/// once (the viewer then offers the others), not a failure per frame.
#[test]
fn the_viewer_engine_on_a_lost_device_fails_once() {
    use hourhand::estimator::Centers;
    use hourhand::view::inference::{EngineChoice, InferenceWorker, Job, JobFrame, Reply};
    use std::time::{Duration, Instant};

    let ctx = fresh_gpu();
    let weights = std::sync::Arc::new(hourhand::bundled::bundled_weights().unwrap());
    let sample = hourhand::bundled::bundled_sample().expect("assets/sample in the source tree");
    let source: std::sync::Arc<dyn hourhand::data::source::Source> =
        std::sync::Arc::from(hourhand::data::open(&sample, &Default::default()).unwrap());
    let mut worker = InferenceWorker::spawn(|| {});
    let generation = worker.set_engine(EngineChoice::Shared, weights, Some(ctx.clone()));
    let job = |index| Job {
        frame: JobFrame::Load(source.clone(), index),
        centers: Centers::GroundTruth,
        refine: 0,
        rotations: 1,
        cube: 300.0,
        sweep: false,
    };
    let wait = |worker: &InferenceWorker| {
        let start = Instant::now();
        loop {
            let replies = worker.poll();
            if !replies.is_empty() {
                return replies;
            }
            assert!(start.elapsed() < Duration::from_secs(120), "no reply");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    assert!(matches!(
        &wait(&worker)[..],
        [Reply::Engine { result: Ok(_), .. }]
    ));
    worker.estimate(job(0));
    assert!(matches!(
        &wait(&worker)[..],
        [Reply::Estimate { result: Ok(_), .. }]
    ));

    ctx.device.destroy();
    worker.estimate(job(1));
    match &wait(&worker)[..] {
        [
            Reply::Engine {
                generation: g,
                result: Err(why),
            },
        ] => {
            assert_eq!(*g, generation);
            assert!(why.contains("was lost"), "{why}");
        }
        other => panic!(
            "expected the engine to fail once, got {} replies",
            other.len()
        ),
    }
    // Later frames get no reply at all: the engine is gone.
    worker.estimate(job(2));
    std::thread::sleep(Duration::from_millis(300));
    assert!(worker.poll().is_empty());
}

/// A kernel set forced on a device without the feature it needs (here a device made without
/// subgroups) is an error that names the set and what to use instead, for inference and
/// training alike.
#[test]
fn a_kernel_set_the_device_cannot_run_is_an_error_saying_what_to_use() {
    use hourhand::gpu::kernels::KernelSet;
    use hourhand::gpu::{GpuContext, GpuTrainer};
    use hourhand::net::Program;

    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = wgpu::Backends::VULKAN;
    let instance = wgpu::Instance::new(desc);
    let adapter = pollster::block_on(instance.request_adapter(&Default::default()))
        .expect("a Vulkan adapter (lavapipe)");
    let (device, queue) = pollster::block_on(adapter.request_device(&Default::default())).unwrap();
    assert!(!device.features().contains(wgpu::Features::SUBGROUP));
    let ctx = GpuContext::from_device(device, queue, adapter.get_info());
    assert_ne!(
        ctx.kernels,
        KernelSet::Subgroups,
        "chosen only where the device has them"
    );
    let ctx = ctx.with_kernels(KernelSet::Subgroups);

    let weights = Weights::init(&NetConfig::tiny(), 1).unwrap();
    let net = Network::from_weights(&weights);
    let e = GpuNet::from_network(ctx.clone(), &net)
        .err()
        .expect("refused");
    assert!(matches!(e, GpuError::KernelsUnsupported { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("`subgroups`") && text.contains("--kernels tiled"),
        "{text}"
    );
    let program = Program::lrhn(&weights.config).unwrap();
    let e = GpuTrainer::new(ctx.clone(), program, &weights.tensors, 2)
        .err()
        .expect("refused");
    assert!(matches!(e, GpuError::KernelsUnsupported { .. }), "{e:?}");
    // A context made from a bare device does not know the adapter's downlevel capabilities,
    // so it refuses the sets that unpack f16 weights.
    let e = GpuNet::from_network(ctx.with_kernels(KernelSet::TiledF16), &net)
        .err()
        .expect("refused");
    assert!(e.to_string().contains("SHADER_F16_IN_F32"), "{e}");
}
