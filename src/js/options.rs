//! Reading option objects from JS. Unknown names and wrong types are `invalid_argument` errors
//! that name the option; `undefined` means "not given".

use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use crate::core::error::Error;

/// A validated view of an options object.
pub struct OptionReader {
    object: Option<Object>,
    /// Prepended to option names in errors ("retry." for nested objects).
    prefix: String,
}

impl OptionReader {
    /// Accepts `undefined`, `null` or a plain object whose keys are all in `known`.
    pub fn new(value: &JsValue, what: &str, known: &[&str]) -> Result<Self, Error> {
        Self::nested(value, what, "", known)
    }

    /// Like `new`, for an object inside an option (`prefix` e.g. "retry.").
    pub fn nested(value: &JsValue, what: &str, prefix: &str, known: &[&str]) -> Result<Self, Error> {
        let prefix = prefix.to_owned();
        if value.is_undefined() || value.is_null() {
            return Ok(Self { object: None, prefix });
        }
        if !value.is_object() || value.is_function() || Array::is_array(value) {
            return Err(Error::invalid_argument(what, "must be an object"));
        }
        let object: Object = value.clone().unchecked_into();
        for key in Object::keys(&object).iter() {
            let key = key.as_string().unwrap_or_default();
            if !known.contains(&key.as_str()) {
                let shown: String = key.chars().take(40).collect();
                return Err(Error::invalid_argument(&[prefix.as_str(), shown.as_str()].concat(), &["is not a known option of ", what].concat()));
            }
        }
        Ok(Self { object: Some(object), prefix })
    }

    /// The raw value, `None` when absent or `undefined`.
    pub fn get(&self, name: &str) -> Result<Option<JsValue>, Error> {
        let Some(object) = &self.object else { return Ok(None) };
        let value = Reflect::get(object, &JsValue::from_str(name)).map_err(|_| Error::invalid_argument(&[&self.prefix, name].concat(), "could not be read"))?;
        Ok((!value.is_undefined()).then_some(value))
    }

    fn typed<T>(&self, name: &str, expected: &str, cast: impl FnOnce(&JsValue) -> Option<T>) -> Result<Option<T>, Error> {
        match self.get(name)? {
            None => Ok(None),
            Some(v) => cast(&v).map(Some).ok_or_else(|| Error::invalid_argument(&[&self.prefix, name].concat(), &["must be ", expected].concat())),
        }
    }

    /// A string option.
    pub fn string(&self, name: &str) -> Result<Option<String>, Error> {
        self.typed(name, "a string", JsValue::as_string)
    }

    /// A number option (finite).
    pub fn number(&self, name: &str) -> Result<Option<f64>, Error> {
        self.typed(name, "a finite number", |v| v.as_f64().filter(|n| n.is_finite()))
    }

    /// A boolean option.
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, Error> {
        self.typed(name, "a boolean", JsValue::as_bool)
    }

    /// A function option.
    pub fn function(&self, name: &str) -> Result<Option<Function>, Error> {
        self.typed(name, "a function", |v| v.dyn_ref::<Function>().cloned())
    }

    /// A string option restricted to `choices`.
    pub fn one_of(&self, name: &str, choices: &[&str]) -> Result<Option<String>, Error> {
        let expected = ["one of \"", &choices.join("\", \""), "\""].concat();
        self.typed(name, &expected, |v| v.as_string().filter(|s| choices.contains(&s.as_str())))
    }
}
