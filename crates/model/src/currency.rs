//! ISO 4217 currency codes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[path = "iso4217.rs"]
mod iso4217;

/// A validated, upper-case ISO 4217 currency code.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    pub const USD: Currency = Currency(*b"USD");
    pub const EUR: Currency = Currency(*b"EUR");
    pub const GBP: Currency = Currency(*b"GBP");

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("currency codes are ASCII")
    }

    /// Number of decimal places of the minor unit (2 for USD, 0 for JPY).
    pub fn exponent(&self) -> u8 {
        let code = self.as_str();
        iso4217::ISO_4217.binary_search_by(|(c, _)| (*c).cmp(code)).map(|i| iso4217::ISO_4217[i].1).unwrap_or(2)
    }
}

impl FromStr for Currency {
    type Err = String;
    /// Accepts any case ("usd" is USD, as Stripe sends it); rejects codes that
    /// are not in ISO 4217.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let up = s.trim().to_ascii_uppercase();
        if iso4217::ISO_4217.binary_search_by(|(c, _)| (*c).cmp(up.as_str())).is_ok() {
            let b = up.as_bytes();
            Ok(Currency([b[0], b[1], b[2]]))
        } else {
            Err(format!("unknown currency {s:?} (expected an ISO 4217 code such as USD, EUR, GBP)"))
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_string()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_codes_in_any_case() {
        assert_eq!("usd".parse::<Currency>().unwrap(), Currency::USD);
        assert_eq!("JPY".parse::<Currency>().unwrap().exponent(), 0);
        assert_eq!("KWD".parse::<Currency>().unwrap().exponent(), 3);
        assert!("XXQ".parse::<Currency>().unwrap_err().contains("unknown currency"));
        assert!("US".parse::<Currency>().is_err());
    }
}
