//! An email address a user gives (`PATCH /v1/contacts/me`): what an SMTP
//! server accepts as a recipient — parsed by `lettre`, the crate that sends
//! it, so an address that is stored can be sent to.

use serde::Deserialize;

/// `local@domain`, at most 254 characters (RFC 5321's limit of a path).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = &'static str;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let text = value.trim();
        if text.len() > 254 || text.parse::<lettre::Address>().is_err() {
            return Err("email must be an address like name@example.com, at most 254 characters");
        }
        Ok(Self(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::EmailAddress;

    #[test]
    fn addresses_parse_as_smtp_recipients() {
        let ok = EmailAddress::try_from(" carol@example.com ".to_owned()).unwrap();
        assert_eq!(ok.as_str(), "carol@example.com");
        assert!(EmailAddress::try_from("ann+desk@sub.example.co".to_owned()).is_ok());
        let long = format!("{}@example.com", "x".repeat(250));
        for bad in [
            "",
            "carol",
            "@example.com",
            "carol@",
            "a b@example.com",
            "carol@ex ample.com",
            "carol@example.com\r\nBcc: x@y.z",
            &long,
        ] {
            assert!(EmailAddress::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
    }
}
