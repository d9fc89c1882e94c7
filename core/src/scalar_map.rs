//! Maps whose values may be written as any YAML scalar (`replicas: 3`), kept as strings.

use std::collections::BTreeMap;

type Params = BTreeMap<String, String>;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::fmt;

struct Scalar(String);

impl<'de> serde::Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            // Documents reach the browser with every value already a string, and float
            // formatting would add its own code to the WASM: only the server reads floats.
            #[cfg(not(target_arch = "wasm32"))]
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Params, D::Error> {
    struct MapVisitor;
    impl<'de> Visitor<'de> for MapVisitor {
        type Value = Params;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a map of names to scalar values")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Params, A::Error> {
            let mut params = Params::new();
            while let Some((key, Scalar(value))) = access.next_entry::<String, Scalar>()? {
                params.insert(key, value);
            }
            Ok(params)
        }
    }
    deserializer.deserialize_map(MapVisitor)
}
