const HEADER_LEN: usize = 8;

pub fn split_header(data: &[u8]) -> (&[u8], &[u8]) {
    let header = &data[..=HEADER_LEN];
    let body = &data[HEADER_LEN..];
    (header, body)
}
