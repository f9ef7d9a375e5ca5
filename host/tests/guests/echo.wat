;; Replies with its payload. Keeps a message count in a global (its
;; short-term state) and exports it, so tests can see the actor is reused.
(module
  (import "goldfish" "reply" (func $reply (param i32 i32)))
  (memory (export "memory") 1)
  (global $count (mut i32) (i32.const 0))
  (func (export "gf_alloc") (param $len i32) (result i32)
    (local $need i32)
    ;; the payload goes at 1024; grow the memory if it does not fit
    (local.set $need
      (i32.sub
        (i32.shr_u (i32.add (i32.add (local.get $len) (i32.const 1024)) (i32.const 65535)) (i32.const 16))
        (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then
        (if (i32.eq (memory.grow (local.get $need)) (i32.const -1))
          (then (return (i32.const 0))))))
    (i32.const 1024))
  (func (export "gf_handle") (param $ptr i32) (param $len i32) (result i32)
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (call $reply (local.get $ptr) (local.get $len))
    (i32.const 0)))
