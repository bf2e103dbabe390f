pub fn parse_port(input: &str) -> u16 {
    let trimmed = input.trim();
    let port: u16 = trimmed.parse().unwrap();
    port
}
