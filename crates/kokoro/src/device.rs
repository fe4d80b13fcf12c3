//! Where the model runs: `Device::Cpu` (the default), `Device::Cuda`, or
//! `Device::Auto` (CUDA when a usable GPU and driver are there, else the CPU).

use std::fmt;
use std::str::FromStr;

/// Where the model runs, as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// ONNX Runtime's CPU build (the default).
    #[default]
    Cpu,
    /// ONNX Runtime's GPU build with CUDA, fetched into the cache on first
    /// use; a machine without a usable GPU and driver is an error saying
    /// what is missing, never a silent fallback.
    Cuda,
    /// CUDA when this machine can use it, else the CPU; the choice and its
    /// reason are told as [`crate::Event::Device`].
    Auto,
}

impl Device {
    /// The name users type: `cpu`, `cuda`, `auto`.
    pub fn name(self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
            Device::Auto => "auto",
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A device name that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown device `{0}` (cpu, cuda, auto)")]
pub struct UnknownDevice(pub String);

impl FromStr for Device {
    type Err = UnknownDevice;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda),
            "auto" => Ok(Device::Auto),
            _ => Err(UnknownDevice(s.to_string())),
        }
    }
}

/// The device to use for `asked`, and what to say about the choice: `Ok(true)`
/// for CUDA. `probe` says whether CUDA is usable (what it found, or what is
/// missing).
pub(crate) fn choose(
    asked: Device,
    probe: impl FnOnce() -> Result<String, String>,
) -> Result<(bool, String), String> {
    match asked {
        Device::Cpu => Ok((false, "cpu (asked for)".into())),
        Device::Cuda => probe().map(|found| (true, format!("cuda: {found}"))),
        Device::Auto => Ok(match probe() {
            Ok(found) => (true, format!("auto chose cuda: {found}")),
            Err(missing) => (false, format!("auto chose cpu: {missing}")),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back() {
        for d in [Device::Cpu, Device::Cuda, Device::Auto] {
            assert_eq!(d.name().parse::<Device>(), Ok(d));
        }
        assert_eq!("GPU".parse::<Device>(), Ok(Device::Cuda));
        assert!("tpu"
            .parse::<Device>()
            .unwrap_err()
            .to_string()
            .contains("cpu, cuda, auto"));
    }

    #[test]
    fn cuda_never_falls_back_and_auto_says_why() {
        let missing = || Err("no NVIDIA driver is loaded".to_string());
        let found = || Ok("1 NVIDIA GPU(s), driver 580.65".to_string());
        assert_eq!(
            choose(Device::Cuda, missing),
            Err("no NVIDIA driver is loaded".into())
        );
        assert!(choose(Device::Cuda, found).unwrap().0);
        let (cuda, said) = choose(Device::Auto, missing).unwrap();
        assert!(
            !cuda && said.contains("cpu") && said.contains("no NVIDIA driver"),
            "{said}"
        );
        let (cuda, said) = choose(Device::Auto, found).unwrap();
        assert!(cuda && said.contains("580.65"), "{said}");
        assert!(!choose(Device::Cpu, || panic!("not probed")).unwrap().0);
    }
}
