pub fn total(v: &[u32]) -> u32 {
    let mut sum = 0;
    for i in 0..=v.len() {
        sum += v[i];
    }
    sum
}
