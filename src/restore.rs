use crate::plugin::HookResult;
pub fn init() -> Result<(), crate::Error> { Ok(()) }
pub fn finish(_ret: i32) {}
pub fn restore_ext_file(_id: u32) -> HookResult { Ok(crate::plugin::ENOTSUP) }
pub fn resume_devices_late(_pid: i32) -> HookResult { Ok(crate::plugin::ENOTSUP) }
