//! A small reader over untrusted bytes: every read is bounds-checked and typed.

use crate::error::FormatError;

/// Reads fields front to back from a byte slice.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        if self.rest.len() < n {
            return Err(FormatError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], FormatError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, FormatError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, FormatError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, FormatError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// The bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Succeeds only when every byte was read.
    pub(crate) fn finish(self) -> Result<(), FormatError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(FormatError::TrailingBytes)
        }
    }
}

/// Reads the leading format byte and refuses anything but `expected`.
pub(crate) fn expect_format(reader: &mut Reader<'_>, expected: u8) -> Result<(), FormatError> {
    match reader.u8() {
        Ok(found) if found == expected => Ok(()),
        Ok(found) => Err(FormatError::UnsupportedFormat { found }),
        Err(_) => Err(FormatError::Empty),
    }
}

/// Unpadded base64url, the text form of every binary value.
pub fn to_base64url(bytes: &[u8]) -> String {
    use base64ct::Encoding;
    base64ct::Base64UrlUnpadded::encode_string(bytes)
}

/// Parses unpadded base64url (canonical encodings only).
pub fn from_base64url(text: &str) -> Result<Vec<u8>, FormatError> {
    use base64ct::Encoding;
    base64ct::Base64UrlUnpadded::decode_vec(text).map_err(|_| FormatError::Base64)
}
