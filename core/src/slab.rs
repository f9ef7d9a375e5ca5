//! Fixed-capacity slot storage: the one place core keeps many things.
//!
//! The storage is any slice of `Option<T>` the caller owns: an array for a
//! scheduler without a heap, or a boxed slice sized once at construction with
//! the `alloc` feature. A slab never grows, so no transition allocates.

use core::marker::PhantomData;

/// Backing storage for a [`Slab`]: `[Option<T>; N]`, `Box<[Option<T>]>`, `Vec<Option<T>>`...
pub trait Storage<T>: AsRef<[Option<T>]> + AsMut<[Option<T>]> {}
impl<T, S: AsRef<[Option<T>]> + AsMut<[Option<T>]>> Storage<T> for S {}

/// Slots of `T` in caller-provided storage, filled lowest index first, with a
/// high-water mark so scans cost what is in use rather than the capacity.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Slab<T, S> {
    slots: S,
    high: usize,
    len: usize,
    _t: PhantomData<T>,
}

impl<T, S: Storage<T>> Slab<T, S> {
    /// A slab over `slots`, emptied.
    pub fn new(mut slots: S) -> Self {
        for s in slots.as_mut() {
            *s = None;
        }
        Slab {
            slots,
            high: 0,
            len: 0,
            _t: PhantomData,
        }
    }

    /// How many values fit.
    pub fn capacity(&self) -> usize {
        self.slots.as_ref().len()
    }

    /// How many values are stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// One past the highest occupied index: scans stop here.
    pub fn high(&self) -> usize {
        self.high
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores `value` in the lowest free slot, or gives it back if full.
    pub fn insert(&mut self, value: T) -> Result<usize, T> {
        let slots = self.slots.as_mut();
        let Some(i) = slots.iter().position(Option::is_none) else {
            return Err(value);
        };
        slots[i] = Some(value);
        self.len += 1;
        if i >= self.high {
            self.high = i + 1;
        }
        Ok(i)
    }

    /// The value at `i`.
    pub fn get(&self, i: usize) -> Option<&T> {
        self.slots.as_ref().get(i).and_then(Option::as_ref)
    }

    /// The value at `i`, mutably.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.slots.as_mut().get_mut(i).and_then(Option::as_mut)
    }

    /// Takes the value at `i` out.
    pub fn remove(&mut self, i: usize) -> Option<T> {
        let v = self.slots.as_mut().get_mut(i)?.take()?;
        self.len -= 1;
        let slots = self.slots.as_ref();
        while self.high > 0 && slots[self.high - 1].is_none() {
            self.high -= 1;
        }
        Some(v)
    }

    /// Every stored value with its index, lowest index first.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &T)> + Clone + '_ {
        self.slots.as_ref()[..self.high]
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|v| (i, v)))
    }

    /// Every stored value with its index, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (usize, &mut T)> + '_ {
        let high = self.high;
        self.slots.as_mut()[..high]
            .iter_mut()
            .enumerate()
            .filter_map(|(i, s)| s.as_mut().map(|v| (i, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_lowest_first_and_tracks_the_high_water_mark() {
        let mut s: Slab<u8, [Option<u8>; 3]> = Slab::new([Some(9); 3]);
        assert!(s.is_empty());
        assert_eq!(s.insert(1), Ok(0));
        assert_eq!(s.insert(2), Ok(1));
        assert_eq!(s.insert(3), Ok(2));
        assert_eq!(s.insert(4), Err(4));
        assert_eq!(s.remove(1), Some(2));
        assert_eq!(s.remove(1), None);
        assert_eq!(s.insert(5), Ok(1));
        assert_eq!(s.remove(2), Some(3));
        let seen: std::vec::Vec<(usize, u8)> = s.iter().map(|(i, v)| (i, *v)).collect();
        assert_eq!(seen, [(0, 1), (1, 5)]);
        assert_eq!(s.high, 2, "the scan stops at the last occupied slot");
        s.iter_mut().for_each(|(_, v)| *v += 1);
        assert_eq!(s.get(1), Some(&6));
        assert_eq!(s.len(), 2);
    }
}
