pub struct Quota {
    pub total: u32,
    pub used: u32,
}

impl Quota {
    pub fn remaining(&self) -> u32 {
        self.total - self.used
    }
}
