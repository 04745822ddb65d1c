//! The module's tunable limits and its error-code switch: load arguments on every server, and
//! `CONFIG GET/SET sessiongate.<name>` where the server has module configs (Redis 7.0+, Valkey).

use std::ffi::{c_char, c_int, c_longlong, c_void, CStr};
use std::sync::atomic::{AtomicUsize, Ordering};

use redis_module::raw;

use crate::errors::{self, Error, DEFAULT_MAX_PAYLOAD_DATA, DEFAULT_MAX_PAYLOAD_NAME};
use crate::rm::{self, Ctx};
use crate::strings::RStr;

static MAX_PAYLOAD_NAME: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_PAYLOAD_NAME);
static MAX_PAYLOAD_DATA: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_PAYLOAD_DATA);

pub fn max_payload_name() -> usize {
    MAX_PAYLOAD_NAME.load(Ordering::Relaxed)
}

pub fn max_payload_data() -> usize {
    MAX_PAYLOAD_DATA.load(Ordering::Relaxed)
}

pub struct Setting {
    pub name: &'static CStr,
    value: &'static AtomicUsize,
    default: usize,
    pub min: usize,
    pub max: usize,
}

/// Bounds: a name up to 64 KiB, data up to 512 MiB (Redis' largest bulk string by default).
pub static SETTINGS: [Setting; 2] = [
    Setting {
        name: c"max-payload-name-length",
        value: &MAX_PAYLOAD_NAME,
        default: DEFAULT_MAX_PAYLOAD_NAME,
        min: 1,
        max: 65_536,
    },
    Setting {
        name: c"max-payload-data-length",
        value: &MAX_PAYLOAD_DATA,
        default: DEFAULT_MAX_PAYLOAD_DATA,
        min: 1,
        max: 512 * 1024 * 1024,
    },
];

/// `error-codes yes|no`: whether error replies start with a code word (`errors::codes`).
pub const ERROR_CODES: &CStr = c"error-codes";

/// `yes` or `no`, in any case, as Redis reads its own yes/no settings.
fn parse_yes_no(value: &[u8]) -> Option<bool> {
    if value.eq_ignore_ascii_case(b"yes") {
        Some(true)
    } else if value.eq_ignore_ascii_case(b"no") {
        Some(false)
    } else {
        None
    }
}

/// Applies load arguments: pairs of `<name> <value>`, names as in `SETTINGS` or `error-codes`.
pub fn apply_load_args(args: &[&[u8]]) -> Result<(), String> {
    for s in &SETTINGS {
        s.value.store(s.default, Ordering::Relaxed);
    }
    errors::set_codes(false);
    if args.len() % 2 != 0 {
        return Err("load arguments come in pairs: <name> <value>".into());
    }
    for pair in args.chunks(2) {
        let name = String::from_utf8_lossy(pair[0]);
        if ERROR_CODES.to_bytes().eq_ignore_ascii_case(pair[0]) {
            let on = parse_yes_no(pair[1]).ok_or_else(|| format!("'{name}' must be yes or no"))?;
            errors::set_codes(on);
            continue;
        }
        let setting = SETTINGS
            .iter()
            .find(|s| s.name.to_bytes().eq_ignore_ascii_case(pair[0]))
            .ok_or_else(|| format!("unknown load argument '{name}'"))?;
        let value = std::str::from_utf8(pair[1])
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|v| (setting.min..=setting.max).contains(v))
            .ok_or_else(|| {
                format!(
                    "'{name}' must be an integer from {} to {}",
                    setting.min, setting.max
                )
            })?;
        setting.value.store(value, Ordering::Relaxed);
    }
    Ok(())
}

/// A panic answers 0, below every setting's bounds: the get callback has no way to fail.
unsafe extern "C" fn get_numeric(_name: *const c_char, privdata: *mut c_void) -> c_longlong {
    rm::no_unwind(0, || {
        #[cfg(feature = "panic-test")]
        crate::panic_hooks::reached(crate::panic_hooks::Point::ConfigGet);
        // SAFETY: privdata is a &'static Setting given at registration.
        let s = unsafe { &*(privdata as *const Setting) };
        s.value.load(Ordering::Relaxed) as c_longlong
    })
}

/// Runs a set callback's body; a panic refuses the CONFIG SET, with the internal error as the
/// reason the server shows.
fn refuse_on_panic(err: *mut RStr, body: impl FnOnce() -> c_int) -> c_int {
    rm::no_unwind(None, || Some(body())).unwrap_or_else(|| {
        let text = Error::Internal.message();
        // SAFETY: err is the out-parameter Redis gave the callback; it takes ownership of the
        // string (a NULL context: not freed by the module).
        unsafe {
            if let (false, Some(create)) = (err.is_null(), raw::RedisModule_CreateString) {
                *err = create(std::ptr::null_mut(), text.as_ptr().cast(), text.len());
            }
        }
        rm::ERR
    })
}

unsafe extern "C" fn set_numeric(
    _name: *const c_char,
    val: c_longlong,
    privdata: *mut c_void,
    err: *mut RStr,
) -> c_int {
    refuse_on_panic(err, || {
        #[cfg(feature = "panic-test")]
        crate::panic_hooks::reached(crate::panic_hooks::Point::ConfigSet);
        // SAFETY: privdata is a &'static Setting given at registration; Redis checked min/max.
        let s = unsafe { &*(privdata as *const Setting) };
        s.value.store(val as usize, Ordering::Relaxed);
        rm::OK
    })
}

/// A panic answers `no`: the get callback has no way to fail.
unsafe extern "C" fn get_codes(_name: *const c_char, _privdata: *mut c_void) -> c_int {
    rm::no_unwind(0, || {
        #[cfg(feature = "panic-test")]
        crate::panic_hooks::reached(crate::panic_hooks::Point::ConfigGet);
        c_int::from(errors::codes())
    })
}

unsafe extern "C" fn set_codes(
    _name: *const c_char,
    val: c_int,
    _privdata: *mut c_void,
    err: *mut RStr,
) -> c_int {
    refuse_on_panic(err, || {
        #[cfg(feature = "panic-test")]
        crate::panic_hooks::reached(crate::panic_hooks::Point::ConfigSet);
        errors::set_codes(val != 0);
        rm::OK
    })
}

/// Registers the settings as module configs where the server has them; returns whether it did.
pub fn register(ctx: Ctx) -> Result<bool, String> {
    // SAFETY: reads function pointers set once at load.
    let (Some(register), Some(register_bool), Some(load)) = (
        unsafe { raw::RedisModule_RegisterNumericConfig },
        unsafe { raw::RedisModule_RegisterBoolConfig },
        unsafe { raw::RedisModule_LoadConfigs },
    ) else {
        return Ok(false);
    };
    for s in &SETTINGS {
        // SAFETY: the name is static; privdata points to a static Setting.
        let status = unsafe {
            register(
                ctx,
                s.name.as_ptr(),
                s.value.load(Ordering::Relaxed) as c_longlong,
                raw::REDISMODULE_CONFIG_DEFAULT,
                s.min as c_longlong,
                s.max as c_longlong,
                Some(get_numeric),
                Some(set_numeric),
                None,
                s as *const Setting as *mut c_void,
            )
        };
        if status != rm::OK {
            return Err(format!(
                "could not register config {}",
                s.name.to_string_lossy()
            ));
        }
    }
    // SAFETY: the name is static; the callbacks take no privdata.
    let status = unsafe {
        register_bool(
            ctx,
            ERROR_CODES.as_ptr(),
            c_int::from(errors::codes()),
            raw::REDISMODULE_CONFIG_DEFAULT,
            Some(get_codes),
            Some(set_codes),
            None,
            std::ptr::null_mut(),
        )
    };
    if status != rm::OK {
        return Err("could not register config error-codes".into());
    }
    // SAFETY: ctx is the load context.
    if unsafe { load(ctx) } != rm::OK {
        return Err("could not load the module configs".into());
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings are process-wide: one test at a time.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn load_args_set_and_validate() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        assert_eq!(apply_load_args(&[]), Ok(()));
        assert_eq!(max_payload_data(), DEFAULT_MAX_PAYLOAD_DATA);
        assert_eq!(
            apply_load_args(&[
                b"max-payload-data-length",
                b"65536",
                b"MAX-PAYLOAD-NAME-LENGTH",
                b"10"
            ]),
            Ok(())
        );
        assert_eq!((max_payload_name(), max_payload_data()), (10, 65536));
        for bad in [
            &[&b"max-payload-data-length"[..]][..],
            &[b"max-payload-data-length", b"0"],
            &[b"max-payload-data-length", b"-1"],
            &[b"max-payload-data-length", b"999999999999"],
            &[b"max-payload-name-length", b"x"],
            &[b"nope", b"1"],
        ] {
            assert!(apply_load_args(bad).is_err(), "{bad:?}");
        }
        assert_eq!(apply_load_args(&[]), Ok(()));
        assert_eq!(max_payload_name(), DEFAULT_MAX_PAYLOAD_NAME);
    }

    #[test]
    fn error_codes_load_arg_is_yes_or_no_and_resets_on_load() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        assert_eq!(apply_load_args(&[b"error-codes", b"yes"]), Ok(()));
        assert!(errors::codes());
        assert_eq!(apply_load_args(&[b"ERROR-CODES", b"No"]), Ok(()));
        assert!(!errors::codes());
        assert_eq!(apply_load_args(&[b"error-codes", b"YES"]), Ok(()));
        assert!(errors::codes());
        assert_eq!(apply_load_args(&[]), Ok(()));
        assert!(!errors::codes(), "a new load starts with error codes off");
        for bad in [&b"1"[..], b"true", b"", b"yes ", b"y"] {
            assert_eq!(
                apply_load_args(&[b"error-codes", bad]),
                Err("'error-codes' must be yes or no".into()),
                "{bad:?}"
            );
        }
    }
}
