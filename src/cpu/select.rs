//! Which path a model takes when [`Device::Auto`] leaves the choice to
//! rewind: the GPU, unless the best adapter the GPU path would pick is a CPU
//! or there is none.

use crate::model::{Device, LoadOptions};

/// The device `opts` resolves to: `Gpu` or `Cpu`.
pub(crate) fn resolve_device(opts: &LoadOptions) -> Device {
    match opts.device {
        Device::Auto if opts.gpu.adapter.is_some() => Device::Gpu,
        Device::Auto if best_adapter_is_gpu(&opts.gpu) => Device::Gpu,
        Device::Auto => Device::Cpu,
        d => d,
    }
}

/// Whether the best adapter of the backends `opts` allows (ranked like
/// `Gpu::new` ranks them: by device type) is not a CPU. Only enumerates: no
/// device is created.
fn best_adapter_is_gpu(opts: &crate::gpu::GpuOptions) -> bool {
    let backends = opts
        .backends
        .unwrap_or(wgpu::Backends::PRIMARY | wgpu::Backends::GL);
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    let instance = wgpu::Instance::new(desc);
    let adapters = pollster::block_on(instance.enumerate_adapters(backends));
    let best = adapters
        .iter()
        .filter(|a| {
            a.get_downlevel_capabilities()
                .flags
                .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS)
        })
        .map(|a| a.get_info().device_type)
        .max_by_key(|t| match t {
            wgpu::DeviceType::DiscreteGpu => 4,
            wgpu::DeviceType::IntegratedGpu => 3,
            wgpu::DeviceType::VirtualGpu => 2,
            wgpu::DeviceType::Cpu => 1,
            wgpu::DeviceType::Other => 0,
        });
    log::info!("best adapter type for Device::Auto: {best:?}");
    // `Other` (a driver that doesn't say) counts as a GPU.
    !matches!(best, None | Some(wgpu::DeviceType::Cpu))
}
