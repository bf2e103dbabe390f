/// The longer of two strings (the first one when they are equally long).
pub fn longest<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.len() < b.len() {
        a
    } else {
        b
    }
}
