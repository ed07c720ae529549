;; The fused kernels' arithmetic in WebAssembly SIMD (f32x4), over the tfjs
;; wasm backend's own memory (imported as env.memory): every argument named
;; like a pointer is a byte offset of a tensor's storage on that heap, as the
;; backend's memoryOffset gives it. No data segments, no globals, no stack:
;; each function reads the ranges it is given and writes only its outputs.
;; Row lengths (K, N, hd) are multiples of 4; the caller checks.
;;
;;   linear      y[M, N] = x[M, K] Wᵀ + b           (W [N, K] as PyTorch stores it; N even, K a multiple of 4)
;;   layer_norm  y = (x − mean) / √(var + ε) · g + β  (biased variance)
;;   gelu        y = ½ x (1 + erf(x / √2))            (erf: Abramowitz & Stegun 7.1.26, as tfjs)
;;   add         y = y + r
;;   attention   o = softmax(s · q Kᵀ) V over keys 0 … start + i, after writing the
;;               span's keys and values into the cache (layout [R, H, T, hd] per K and V)
(module
  (import "env" "memory" (memory 0))

  ;; exp of four floats: 2^n · p(r), x = n ln2 + r, |r| ≤ ln2 / 2 (Taylor to r⁶, ~1 ulp).
  (func $exp4 (param $x v128) (result v128)
    (local $j v128) (local $n v128) (local $r v128) (local $p v128)
    (local.set $x (f32x4.max (f32x4.min (local.get $x) (f32x4.splat (f32.const 88.0))) (f32x4.splat (f32.const -87.0))))
    ;; j = x log2e + 1.5·2^23 rounds to an integer n held in j's low mantissa bits
    (local.set $j (f32x4.add (f32x4.mul (local.get $x) (f32x4.splat (f32.const 1.44269504))) (f32x4.splat (f32.const 12582912.0))))
    (local.set $n (f32x4.sub (local.get $j) (f32x4.splat (f32.const 12582912.0))))
    (local.set $r (f32x4.sub (local.get $x) (f32x4.mul (local.get $n) (f32x4.splat (f32.const 0.693359375)))))
    (local.set $r (f32x4.sub (local.get $r) (f32x4.mul (local.get $n) (f32x4.splat (f32.const -2.12194440e-4)))))
    (local.set $p (f32x4.splat (f32.const 1.38888889e-3)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 8.33333333e-3))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 4.16666667e-2))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 1.66666667e-1))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 0.5))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 1.0))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 1.0))))
    ;; 2^n: (n + 127) << 23, with n + 127 = bits(j) − bits(1.5·2^23) + 127
    (f32x4.mul (local.get $p)
      (i32x4.shl (i32x4.add (i32x4.sub (local.get $j) (i32x4.splat (i32.const 0x4b400000))) (i32x4.splat (i32.const 127))) (i32.const 23))))

  (func $hsum (param $v v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; The sums of four accumulators' lanes, [Σa0, Σa1, Σa2, Σa3].
  (func $hsum4 (param $a0 v128) (param $a1 v128) (param $a2 v128) (param $a3 v128) (result v128)
    (local $s01 v128) (local $s23 v128)
    (local.set $s01 (f32x4.add
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a0) (local.get $a1))
      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a0) (local.get $a1))))
    (local.set $s23 (f32x4.add
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a2) (local.get $a3))
      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a2) (local.get $a3))))
    (f32x4.add
      (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $s01) (local.get $s23))
      (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $s01) (local.get $s23))))

;; Four rows x0 … x0 + 3·K by W [N, K] plus b into y0 …: two outputs at a time, each row's
  ;; dot products summed exactly as the two-row path sums them (the same lanes, hsum4), so a row's
  ;; result does not depend on the rows it is computed with. Reads W once per four rows.
  (func $rows4 (param $x0 i32) (param $y0 i32) (param $K i32) (param $w i32) (param $N i32) (param $b i32)
    (local $kb i32) (local $yb i32) (local $n i32) (local $k i32) (local $w0 i32) (local $w1 i32)
    (local $x1 i32) (local $x2 i32) (local $x3 i32) (local $u0 v128) (local $u1 v128) (local $v v128) (local $bias v128)
    (local $a0 v128) (local $a1 v128) (local $c0 v128) (local $c1 v128)
    (local $d0 v128) (local $d1 v128) (local $e0 v128) (local $e1 v128) (local $s v128) (local $o i32)
    (local.set $kb (i32.shl (local.get $K) (i32.const 2)))
    (local.set $yb (i32.shl (local.get $N) (i32.const 2)))
    (local.set $x1 (i32.add (local.get $x0) (local.get $kb)))
    (local.set $x2 (i32.add (local.get $x1) (local.get $kb)))
    (local.set $x3 (i32.add (local.get $x2) (local.get $kb)))
    (local.set $n (i32.const 0))
    (loop $cols
      (local.set $a0 (v128.const i32x4 0 0 0 0)) (local.set $a1 (v128.const i32x4 0 0 0 0))
      (local.set $c0 (v128.const i32x4 0 0 0 0)) (local.set $c1 (v128.const i32x4 0 0 0 0))
      (local.set $d0 (v128.const i32x4 0 0 0 0)) (local.set $d1 (v128.const i32x4 0 0 0 0))
      (local.set $e0 (v128.const i32x4 0 0 0 0)) (local.set $e1 (v128.const i32x4 0 0 0 0))
      (local.set $w0 (i32.add (local.get $w) (i32.mul (local.get $n) (local.get $kb))))
      (local.set $w1 (i32.add (local.get $w0) (local.get $kb)))
      (local.set $k (i32.const 0))
      (loop $dot
        (local.set $u0 (v128.load (i32.add (local.get $w0) (local.get $k))))
        (local.set $u1 (v128.load (i32.add (local.get $w1) (local.get $k))))
        (local.set $v (v128.load (i32.add (local.get $x0) (local.get $k))))
        (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $v) (local.get $u0))))
        (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $v) (local.get $u1))))
        (local.set $v (v128.load (i32.add (local.get $x1) (local.get $k))))
        (local.set $c0 (f32x4.add (local.get $c0) (f32x4.mul (local.get $v) (local.get $u0))))
        (local.set $c1 (f32x4.add (local.get $c1) (f32x4.mul (local.get $v) (local.get $u1))))
        (local.set $v (v128.load (i32.add (local.get $x2) (local.get $k))))
        (local.set $d0 (f32x4.add (local.get $d0) (f32x4.mul (local.get $v) (local.get $u0))))
        (local.set $d1 (f32x4.add (local.get $d1) (f32x4.mul (local.get $v) (local.get $u1))))
        (local.set $v (v128.load (i32.add (local.get $x3) (local.get $k))))
        (local.set $e0 (f32x4.add (local.get $e0) (f32x4.mul (local.get $v) (local.get $u0))))
        (local.set $e1 (f32x4.add (local.get $e1) (f32x4.mul (local.get $v) (local.get $u1))))
        (br_if $dot (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 16))) (local.get $kb))))
      ;; [b_n, b_n+1, b_n, b_n+1]; rows 0 and 1, then 2 and 3, two outputs each
      (local.set $bias (v128.load64_splat (i32.add (local.get $b) (i32.shl (local.get $n) (i32.const 2)))))
      (local.set $o (i32.add (local.get $y0) (i32.shl (local.get $n) (i32.const 2))))
      (local.set $s (f32x4.add (call $hsum4 (local.get $a0) (local.get $a1) (local.get $c0) (local.get $c1)) (local.get $bias)))
      (v128.store64_lane 0 (local.get $o) (local.get $s))
      (v128.store64_lane 1 (i32.add (local.get $o) (local.get $yb)) (local.get $s))
      (local.set $s (f32x4.add (call $hsum4 (local.get $d0) (local.get $d1) (local.get $e0) (local.get $e1)) (local.get $bias)))
      (v128.store64_lane 0 (i32.add (local.get $o) (i32.shl (local.get $yb) (i32.const 1))) (local.get $s))
      (v128.store64_lane 1 (i32.add (local.get $o) (i32.mul (local.get $yb) (i32.const 3))) (local.get $s))
      (br_if $cols (i32.lt_u (local.tee $n (i32.add (local.get $n) (i32.const 2))) (local.get $N)))))

    ;; y[M, N] = x[M, K] Wᵀ + b with W [N, K] as stored (PyTorch's layout): two rows by four
  ;; outputs at a time, each a dot product over K in four lanes. K and N multiples of 4;
  ;; y must not overlap x.
  (func (export "linear") (param $x i32) (param $M i32) (param $K i32) (param $w i32) (param $N i32) (param $b i32) (param $y i32)
    (local $i i32) (local $n i32) (local $kb i32) (local $k i32) (local $x0 i32) (local $x1 i32) (local $y0 i32) (local $y1 i32)
    (local $w0 i32) (local $v0 v128) (local $v1 v128) (local $u0 v128) (local $u1 v128) (local $u2 v128) (local $u3 v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128) (local $bias v128)
    (local.set $kb (i32.shl (local.get $K) (i32.const 2)))
    ;; blocks of four rows, then the rest two at a time
    (block $fours_done
      (loop $fours
        (br_if $fours_done (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $M)))
        (call $rows4 (i32.add (local.get $x) (i32.mul (local.get $i) (local.get $kb)))
          (i32.add (local.get $y) (i32.shl (i32.mul (local.get $i) (local.get $N)) (i32.const 2)))
          (local.get $K) (local.get $w) (local.get $N) (local.get $b))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $fours)))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $i) (local.get $M)))
        (local.set $x0 (i32.add (local.get $x) (i32.mul (local.get $i) (local.get $kb))))
        (local.set $y0 (i32.add (local.get $y) (i32.shl (i32.mul (local.get $i) (local.get $N)) (i32.const 2))))
        ;; the second row of the pair; the last row of an odd M pairs with itself
        (if (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $M))
          (then
            (local.set $x1 (i32.add (local.get $x0) (local.get $kb)))
            (local.set $y1 (i32.add (local.get $y0) (i32.shl (local.get $N) (i32.const 2)))))
          (else
            (local.set $x1 (local.get $x0))
            (local.set $y1 (local.get $y0))))
        (local.set $n (i32.const 0))
        (loop $cols
          (local.set $a0 (v128.const i32x4 0 0 0 0)) (local.set $a1 (v128.const i32x4 0 0 0 0))
          (local.set $a2 (v128.const i32x4 0 0 0 0)) (local.set $a3 (v128.const i32x4 0 0 0 0))
          (local.set $c0 (v128.const i32x4 0 0 0 0)) (local.set $c1 (v128.const i32x4 0 0 0 0))
          (local.set $c2 (v128.const i32x4 0 0 0 0)) (local.set $c3 (v128.const i32x4 0 0 0 0))
          (local.set $w0 (i32.add (local.get $w) (i32.mul (local.get $n) (local.get $kb))))
          (local.set $k (i32.const 0))
          (loop $dot
            (local.set $v0 (v128.load (i32.add (local.get $x0) (local.get $k))))
            (local.set $v1 (v128.load (i32.add (local.get $x1) (local.get $k))))
            (local.set $u0 (v128.load (i32.add (local.get $w0) (local.get $k))))
            (local.set $u1 (v128.load (i32.add (i32.add (local.get $w0) (local.get $kb)) (local.get $k))))
            (local.set $u2 (v128.load (i32.add (i32.add (local.get $w0) (i32.shl (local.get $kb) (i32.const 1))) (local.get $k))))
            (local.set $u3 (v128.load (i32.add (i32.add (local.get $w0) (i32.mul (local.get $kb) (i32.const 3))) (local.get $k))))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $v0) (local.get $u0))))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $v0) (local.get $u1))))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $v0) (local.get $u2))))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $v0) (local.get $u3))))
            (local.set $c0 (f32x4.add (local.get $c0) (f32x4.mul (local.get $v1) (local.get $u0))))
            (local.set $c1 (f32x4.add (local.get $c1) (f32x4.mul (local.get $v1) (local.get $u1))))
            (local.set $c2 (f32x4.add (local.get $c2) (f32x4.mul (local.get $v1) (local.get $u2))))
            (local.set $c3 (f32x4.add (local.get $c3) (f32x4.mul (local.get $v1) (local.get $u3))))
            (br_if $dot (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 16))) (local.get $kb))))
          (local.set $bias (v128.load (i32.add (local.get $b) (i32.shl (local.get $n) (i32.const 2)))))
          (v128.store (i32.add (local.get $y0) (i32.shl (local.get $n) (i32.const 2)))
            (f32x4.add (call $hsum4 (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3)) (local.get $bias)))
          (v128.store (i32.add (local.get $y1) (i32.shl (local.get $n) (i32.const 2)))
            (f32x4.add (call $hsum4 (local.get $c0) (local.get $c1) (local.get $c2) (local.get $c3)) (local.get $bias)))
          (br_if $cols (i32.lt_u (local.tee $n (i32.add (local.get $n) (i32.const 4))) (local.get $N))))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $rows))))

  ;; LayerNorm of M rows of K floats: x → y (y may equal x).
  (func (export "layer_norm") (param $x i32) (param $y i32) (param $M i32) (param $K i32) (param $g i32) (param $beta i32) (param $eps f32)
    (local $end i32) (local $p i32) (local $q i32) (local $acc v128) (local $mean f32) (local $inv f32) (local $d v128) (local $m v128) (local $s v128)
    (local $bytes i32)
    (local.set $bytes (i32.shl (local.get $K) (i32.const 2)))
    (block $done
      (loop $rows
        (br_if $done (i32.eqz (local.get $M)))
        (local.set $end (i32.add (local.get $x) (local.get $bytes)))
        (local.set $acc (f32x4.splat (f32.const 0)))
        (local.set $p (local.get $x))
        (loop $sum
          (local.set $acc (f32x4.add (local.get $acc) (v128.load (local.get $p))))
          (br_if $sum (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 16))) (local.get $end))))
        (local.set $mean (f32.div (call $hsum (local.get $acc)) (f32.convert_i32_u (local.get $K))))
        (local.set $m (f32x4.splat (local.get $mean)))
        (local.set $acc (f32x4.splat (f32.const 0)))
        (local.set $p (local.get $x))
        (loop $var
          (local.set $d (f32x4.sub (v128.load (local.get $p)) (local.get $m)))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $d) (local.get $d))))
          (br_if $var (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 16))) (local.get $end))))
        (local.set $inv (f32.div (f32.const 1)
          (f32.sqrt (f32.add (f32.div (call $hsum (local.get $acc)) (f32.convert_i32_u (local.get $K))) (local.get $eps)))))
        (local.set $s (f32x4.splat (local.get $inv)))
        (local.set $p (local.get $x))
        (local.set $q (i32.const 0))
        (loop $out
          (v128.store (i32.add (local.get $y) (local.get $q))
            (f32x4.add
              (f32x4.mul (f32x4.mul (f32x4.sub (v128.load (local.get $p)) (local.get $m)) (local.get $s))
                (v128.load (i32.add (local.get $g) (local.get $q))))
              (v128.load (i32.add (local.get $beta) (local.get $q)))))
          (local.set $q (i32.add (local.get $q) (i32.const 16)))
          (br_if $out (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 16))) (local.get $end))))
        (local.set $x (local.get $end))
        (local.set $y (i32.add (local.get $y) (local.get $bytes)))
        (local.set $M (i32.sub (local.get $M) (i32.const 1)))
        (br $rows))))

  ;; In place over n floats (n a multiple of 4): y ← ½ y (1 + erf(y / √2)).
  (func (export "gelu") (param $y i32) (param $n i32)
    (local $end i32) (local $x v128) (local $v v128) (local $t v128) (local $p v128) (local $e v128)
    (local.set $end (i32.add (local.get $y) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $y) (local.get $end)))
        (local.set $x (v128.load (local.get $y)))
        (local.set $v (f32x4.mul (local.get $x) (f32x4.splat (f32.const 0.70710678))))
        ;; erf(v) = sign(v) (1 − (((((a5 t + a4) t + a3) t + a2) t + a1) t) e^(−v²)), t = 1 / (1 + p |v|)
        (local.set $e (call $exp4 (f32x4.neg (f32x4.mul (local.get $v) (local.get $v)))))
        (local.set $t (f32x4.div (f32x4.splat (f32.const 1))
          (f32x4.add (f32x4.splat (f32.const 1)) (f32x4.mul (f32x4.splat (f32.const 0.3275911)) (f32x4.abs (local.get $v))))))
        (local.set $p (f32x4.splat (f32.const 1.061405429)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $t)) (f32x4.splat (f32.const -1.453152027))))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $t)) (f32x4.splat (f32.const 1.421413741))))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $t)) (f32x4.splat (f32.const -0.284496736))))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $t)) (f32x4.splat (f32.const 0.254829592))))
        (local.set $p (f32x4.sub (f32x4.splat (f32.const 1)) (f32x4.mul (f32x4.mul (local.get $p) (local.get $t)) (local.get $e))))
        ;; the sign of v on |erf|
        (local.set $p (v128.bitselect (local.get $v) (local.get $p) (i32x4.splat (i32.const 0x80000000))))
        (v128.store (local.get $y)
          (f32x4.mul (f32x4.mul (local.get $x) (f32x4.splat (f32.const 0.5))) (f32x4.add (f32x4.splat (f32.const 1)) (local.get $p))))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (br $each))))

  ;; y ← y + r over n floats (n a multiple of 4).
  (func (export "add") (param $y i32) (param $r i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $y) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $y) (local.get $end)))
        (v128.store (local.get $y) (f32x4.add (v128.load (local.get $y)) (v128.load (local.get $r))))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (local.set $r (i32.add (local.get $r) (i32.const 16)))
        (br $each))))

  ;; Copies hd floats (a multiple of 4) from src to dst.
  (func $copy (param $dst i32) (param $src i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (v128.store (local.get $dst) (v128.load (local.get $src)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (br $each))))

  ;; Attention of queries [start, start + n) of qkv [R, n, 3C] (C = H · hd) over one layer's
  ;; keys kc and values vc, each [R, H, T, hd]: first writes the span's keys and values
  ;; there, then o[r, i, h] = Σ_j softmax_j(s_r q·k_j) v_j over j ≤ start + i. scales: f32[R];
  ;; scratch: start + n floats; out: [R, n, C].
  (func (export "attention") (param $qkv i32) (param $kc i32) (param $vc i32) (param $out i32) (param $scratch i32)
    (param $R i32) (param $n i32) (param $H i32) (param $hd i32) (param $T i32) (param $start i32) (param $scales i32)
    (local $r i32) (local $i i32) (local $h i32) (local $j i32) (local $C i32) (local $src i32) (local $dst i32)
    (local $q i32) (local $kv i32) (local $total i32) (local $kp i32) (local $d i32) (local $hb i32) (local $o i32)
    (local $acc v128) (local $s f32) (local $v f32) (local $max f32) (local $sum f32) (local $pr v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $qv v128) (local $sv v128) (local $mv v128)
    (local.set $C (i32.mul (local.get $H) (local.get $hd)))
    (local.set $hb (i32.shl (local.get $hd) (i32.const 2)))
    ;; keys and values of the span into the cache
    (local.set $r (i32.const 0))
    (loop $wr
      (local.set $i (i32.const 0))
      (loop $wi
        (local.set $src (i32.add (local.get $qkv)
          (i32.shl (i32.mul (i32.add (i32.mul (local.get $r) (local.get $n)) (local.get $i)) (i32.mul (local.get $C) (i32.const 3))) (i32.const 2))))
        (local.set $h (i32.const 0))
        (loop $wh
          (local.set $dst (i32.shl (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $r) (local.get $H)) (local.get $h)) (local.get $T))
            (i32.add (local.get $start) (local.get $i))) (local.get $hd)) (i32.const 2)))
          (call $copy (i32.add (local.get $kc) (local.get $dst))
            (i32.add (local.get $src) (i32.shl (i32.add (local.get $C) (i32.mul (local.get $h) (local.get $hd))) (i32.const 2))) (local.get $hd))
          (call $copy (i32.add (local.get $vc) (local.get $dst))
            (i32.add (local.get $src) (i32.shl (i32.add (i32.shl (local.get $C) (i32.const 1)) (i32.mul (local.get $h) (local.get $hd))) (i32.const 2))) (local.get $hd))
          (br_if $wh (i32.lt_u (local.tee $h (i32.add (local.get $h) (i32.const 1))) (local.get $H))))
        (br_if $wi (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
      (br_if $wr (i32.lt_u (local.tee $r (i32.add (local.get $r) (i32.const 1))) (local.get $R))))
    ;; softmax(s q Kᵀ) V per row, head and query
    (local.set $r (i32.const 0))
    (loop $ar
      (local.set $s (f32.load (i32.add (local.get $scales) (i32.shl (local.get $r) (i32.const 2)))))
      (local.set $h (i32.const 0))
      (loop $ah
        (local.set $kv (i32.shl (i32.mul (i32.mul (i32.add (i32.mul (local.get $r) (local.get $H)) (local.get $h)) (local.get $T)) (local.get $hd)) (i32.const 2)))
        (local.set $i (i32.const 0))
        (loop $ai
          (local.set $q (i32.add (local.get $qkv) (i32.shl (i32.add
            (i32.mul (i32.add (i32.mul (local.get $r) (local.get $n)) (local.get $i)) (i32.mul (local.get $C) (i32.const 3)))
            (i32.mul (local.get $h) (local.get $hd))) (i32.const 2))))
          (local.set $total (i32.add (i32.add (local.get $start) (local.get $i)) (i32.const 1)))
          ;; scores of four keys at a time (four independent dot products), then one at a time
          (local.set $mv (f32x4.splat (f32.const -inf)))
          (local.set $kp (i32.add (local.get $kc) (local.get $kv)))
          (local.set $j (i32.const 0))
          (block $quads_done
            (loop $quads
              (br_if $quads_done (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $total)))
              (local.set $a0 (v128.const i32x4 0 0 0 0)) (local.set $a1 (v128.const i32x4 0 0 0 0))
              (local.set $a2 (v128.const i32x4 0 0 0 0)) (local.set $a3 (v128.const i32x4 0 0 0 0))
              (local.set $d (i32.const 0))
              (loop $dot4
                (local.set $qv (v128.load (i32.add (local.get $q) (local.get $d))))
                (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $qv)
                  (v128.load (i32.add (local.get $kp) (local.get $d))))))
                (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $qv)
                  (v128.load (i32.add (i32.add (local.get $kp) (local.get $hb)) (local.get $d))))))
                (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $qv)
                  (v128.load (i32.add (i32.add (local.get $kp) (i32.shl (local.get $hb) (i32.const 1))) (local.get $d))))))
                (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $qv)
                  (v128.load (i32.add (i32.add (local.get $kp) (i32.mul (local.get $hb) (i32.const 3))) (local.get $d))))))
                (br_if $dot4 (i32.lt_u (local.tee $d (i32.add (local.get $d) (i32.const 16))) (local.get $hb))))
              (local.set $sv (f32x4.mul (call $hsum4 (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3)) (f32x4.splat (local.get $s))))
              (v128.store (i32.add (local.get $scratch) (i32.shl (local.get $j) (i32.const 2))) (local.get $sv))
              (local.set $mv (f32x4.max (local.get $mv) (local.get $sv)))
              (local.set $kp (i32.add (local.get $kp) (i32.shl (local.get $hb) (i32.const 2))))
              (local.set $j (i32.add (local.get $j) (i32.const 4)))
              (br $quads)))
          (local.set $max (f32.max
            (f32.max (f32x4.extract_lane 0 (local.get $mv)) (f32x4.extract_lane 1 (local.get $mv)))
            (f32.max (f32x4.extract_lane 2 (local.get $mv)) (f32x4.extract_lane 3 (local.get $mv)))))
          (block $tail_done
            (loop $tail
              (br_if $tail_done (i32.ge_u (local.get $j) (local.get $total)))
              (local.set $acc (v128.const i32x4 0 0 0 0))
              (local.set $d (i32.const 0))
              (loop $dot
                (local.set $acc (f32x4.add (local.get $acc)
                  (f32x4.mul (v128.load (i32.add (local.get $q) (local.get $d))) (v128.load (i32.add (local.get $kp) (local.get $d))))))
                (br_if $dot (i32.lt_u (local.tee $d (i32.add (local.get $d) (i32.const 16))) (local.get $hb))))
              (local.set $v (f32.mul (call $hsum (local.get $acc)) (local.get $s)))
              (f32.store (i32.add (local.get $scratch) (i32.shl (local.get $j) (i32.const 2))) (local.get $v))
              (local.set $max (f32.max (local.get $max) (local.get $v)))
              (local.set $kp (i32.add (local.get $kp) (local.get $hb)))
              (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (br $tail)))
          ;; e_j = exp(score_j − max), four at a time, then one at a time; their sum
          (local.set $mv (f32x4.splat (local.get $max)))
          (local.set $sv (v128.const i32x4 0 0 0 0))
          (local.set $j (i32.const 0))
          (block $equads_done
            (loop $equads
              (br_if $equads_done (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $total)))
              (local.set $a0 (call $exp4 (f32x4.sub
                (v128.load (i32.add (local.get $scratch) (i32.shl (local.get $j) (i32.const 2)))) (local.get $mv))))
              (v128.store (i32.add (local.get $scratch) (i32.shl (local.get $j) (i32.const 2))) (local.get $a0))
              (local.set $sv (f32x4.add (local.get $sv) (local.get $a0)))
              (local.set $j (i32.add (local.get $j) (i32.const 4)))
              (br $equads)))
          (local.set $sum (call $hsum (local.get $sv)))
          (block $etail_done
            (loop $etail
              (br_if $etail_done (i32.ge_u (local.get $j) (local.get $total)))
              (local.set $v (f32x4.extract_lane 0 (call $exp4 (f32x4.splat (f32.sub
                (f32.load (i32.add (local.get $scratch) (i32.shl (local.get $j) (i32.const 2)))) (local.get $max))))))
              (f32.store (i32.add (local.get $scratch) (i32.shl (local.get $j) (i32.const 2))) (local.get $v))
              (local.set $sum (f32.add (local.get $sum) (local.get $v)))
              (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (br $etail)))
          (local.set $o (i32.add (local.get $out) (i32.shl (i32.add
            (i32.mul (i32.add (i32.mul (local.get $r) (local.get $n)) (local.get $i)) (local.get $C))
            (i32.mul (local.get $h) (local.get $hd))) (i32.const 2))))
          (local.set $d (i32.const 0))
          (loop $zero
            (v128.store (i32.add (local.get $o) (local.get $d)) (f32x4.splat (f32.const 0)))
            (br_if $zero (i32.lt_u (local.tee $d (i32.add (local.get $d) (i32.const 16))) (local.get $hb))))
          (local.set $kp (i32.add (local.get $vc) (local.get $kv)))
          (local.set $j (i32.const 0))
          (loop $pv
            (local.set $pr (f32x4.splat (f32.div (f32.load (i32.add (local.get $scratch) (i32.shl (local.get $j) (i32.const 2)))) (local.get $sum))))
            (local.set $d (i32.const 0))
            (loop $acc
              (v128.store (i32.add (local.get $o) (local.get $d))
                (f32x4.add (v128.load (i32.add (local.get $o) (local.get $d)))
                  (f32x4.mul (local.get $pr) (v128.load (i32.add (local.get $kp) (local.get $d))))))
              (br_if $acc (i32.lt_u (local.tee $d (i32.add (local.get $d) (i32.const 16))) (local.get $hb))))
            (local.set $kp (i32.add (local.get $kp) (local.get $hb)))
            (br_if $pv (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $total))))
          (br_if $ai (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
        (br_if $ah (i32.lt_u (local.tee $h (i32.add (local.get $h) (i32.const 1))) (local.get $H))))
      (br_if $ar (i32.lt_u (local.tee $r (i32.add (local.get $r) (i32.const 1))) (local.get $R)))))
)
