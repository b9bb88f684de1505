/*
 * slotfs codec: the multiply-accumulate kernel of the zfec-compatible erasure code, as an
 * N-API addon. JavaScript builds the matrices and checks arguments; this file only does
 *   outputs[r][t] = XOR over j of coeffs[r*cols + j] * inputs[j][t]   (in GF(2^8), 0x11D)
 * for t < length. It must give the same bytes as src/codec/kernel.ts.
 *
 * Two loops: a portable one (a 256-byte product row per coefficient, one lookup per byte)
 * and, on x86-64 CPUs with AVX2, the split-nibble method: c*x = c*(x & 15) ^ c*(x & 0xF0),
 * both 16-entry tables held in registers and looked up 32 bytes at a time by VPSHUFB.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdint.h>
#include <string.h>

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define SLOTFS_HAVE_AVX2 1
#include <immintrin.h>
#endif

#define MAX_SHARES 256
/* Work in slices so one output slice and the matching input slices stay in cache while
 * every coefficient of a row is applied. */
#define CHUNK 8192

static uint8_t mul_table[256][256];
static uint8_t nibble_lo[256][16]; /* c * x      for x < 16 */
static uint8_t nibble_hi[256][16]; /* c * (x<<4) for x < 16 */
static int tables_ready = 0;
static int use_simd = 0;

static uint8_t gf_mul_slow(uint8_t a, uint8_t b) {
  unsigned p = 0, x = a;
  while (b) {
    if (b & 1) p ^= x;
    b >>= 1;
    x <<= 1;
    if (x & 0x100) x ^= 0x11D;
  }
  return (uint8_t)p;
}

static void init_tables(void) {
  /* Every environment (main thread, workers) computes the same values; the flag only
   * avoids repeating the work. */
  if (tables_ready) return;
  for (int c = 0; c < 256; c++) {
    for (int x = 0; x < 256; x++) mul_table[c][x] = gf_mul_slow((uint8_t)c, (uint8_t)x);
    for (int x = 0; x < 16; x++) {
      nibble_lo[c][x] = mul_table[c][x];
      nibble_hi[c][x] = mul_table[c][x << 4];
    }
  }
  tables_ready = 1;
}

/* dst[0..n) ^= c * src[0..n), portable: eight table lookups per 64-bit load and store. */
static void addmul_scalar(uint8_t *dst, const uint8_t *src, uint8_t c, size_t n) {
  const uint8_t *row = mul_table[c];
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t s, d;
    memcpy(&s, src + i, 8);
    memcpy(&d, dst + i, 8);
    /* every byte stays in its lane, so byte order does not matter */
    d ^= (uint64_t)row[s & 0xFF] | (uint64_t)row[(s >> 8) & 0xFF] << 8 |
         (uint64_t)row[(s >> 16) & 0xFF] << 16 | (uint64_t)row[(s >> 24) & 0xFF] << 24 |
         (uint64_t)row[(s >> 32) & 0xFF] << 32 | (uint64_t)row[(s >> 40) & 0xFF] << 40 |
         (uint64_t)row[(s >> 48) & 0xFF] << 48 | (uint64_t)row[s >> 56] << 56;
    memcpy(dst + i, &d, 8);
  }
  for (; i < n; i++) dst[i] ^= row[src[i]];
}

static void xor_scalar(uint8_t *dst, const uint8_t *src, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t a, b;
    memcpy(&a, dst + i, 8);
    memcpy(&b, src + i, 8);
    a ^= b;
    memcpy(dst + i, &a, 8);
  }
  for (; i < n; i++) dst[i] ^= src[i];
}

#ifdef SLOTFS_HAVE_AVX2
__attribute__((target("avx2"))) static void addmul_avx2(uint8_t *dst, const uint8_t *src,
                                                        uint8_t c, size_t n) {
  const __m256i lo = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)nibble_lo[c]));
  const __m256i hi = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)nibble_hi[c]));
  const __m256i mask = _mm256_set1_epi8(0x0F);
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    __m256i s0 = _mm256_loadu_si256((const __m256i *)(src + i));
    __m256i s1 = _mm256_loadu_si256((const __m256i *)(src + i + 32));
    __m256i p0 = _mm256_xor_si256(
        _mm256_shuffle_epi8(lo, _mm256_and_si256(s0, mask)),
        _mm256_shuffle_epi8(hi, _mm256_and_si256(_mm256_srli_epi64(s0, 4), mask)));
    __m256i p1 = _mm256_xor_si256(
        _mm256_shuffle_epi8(lo, _mm256_and_si256(s1, mask)),
        _mm256_shuffle_epi8(hi, _mm256_and_si256(_mm256_srli_epi64(s1, 4), mask)));
    __m256i d0 = _mm256_loadu_si256((const __m256i *)(dst + i));
    __m256i d1 = _mm256_loadu_si256((const __m256i *)(dst + i + 32));
    _mm256_storeu_si256((__m256i *)(dst + i), _mm256_xor_si256(d0, p0));
    _mm256_storeu_si256((__m256i *)(dst + i + 32), _mm256_xor_si256(d1, p1));
  }
  for (; i + 32 <= n; i += 32) {
    __m256i s = _mm256_loadu_si256((const __m256i *)(src + i));
    __m256i p = _mm256_xor_si256(
        _mm256_shuffle_epi8(lo, _mm256_and_si256(s, mask)),
        _mm256_shuffle_epi8(hi, _mm256_and_si256(_mm256_srli_epi64(s, 4), mask)));
    __m256i d = _mm256_loadu_si256((const __m256i *)(dst + i));
    _mm256_storeu_si256((__m256i *)(dst + i), _mm256_xor_si256(d, p));
  }
  if (i < n) addmul_scalar(dst + i, src + i, c, n - i);
}
#endif

static void addmul(uint8_t *dst, const uint8_t *src, uint8_t c, size_t n) {
  if (c == 0) return;
#ifdef SLOTFS_HAVE_AVX2
  if (use_simd) {
    addmul_avx2(dst, src, c, n);
    return;
  }
#endif
  if (c == 1)
    xor_scalar(dst, src, n);
  else
    addmul_scalar(dst, src, c, n);
}

/* dst[0..n) = c * src[0..n): the first coefficient of a row writes instead of XORing, so
 * the output need not be read first (fresh, untouched pages are then faulted in once). */
static void mul_set(uint8_t *dst, const uint8_t *src, uint8_t c, size_t n) {
  if (c == 1) {
    memcpy(dst, src, n);
    return;
  }
  memset(dst, 0, n);
  addmul(dst, src, c, n);
}

static void mul_matrix(const uint8_t *coeffs, uint8_t *const *inputs, size_t cols,
                       uint8_t *const *outputs, size_t rows, size_t length) {
  for (size_t start = 0; start < length; start += CHUNK) {
    size_t n = length - start < CHUNK ? length - start : CHUNK;
    for (size_t r = 0; r < rows; r++) {
      const uint8_t *row = coeffs + r * cols;
      size_t j = 0;
      while (j < cols && row[j] == 0) j++;
      if (j == cols) {
        memset(outputs[r] + start, 0, n);
        continue;
      }
      mul_set(outputs[r] + start, inputs[j] + start, row[j], n);
      for (j++; j < cols; j++) addmul(outputs[r] + start, inputs[j] + start, row[j], n);
    }
  }
}

/* ---- N-API glue ---- */

#define CHECK(call)                                                                          \
  do {                                                                                       \
    if ((call) != napi_ok) {                                                                 \
      napi_throw_error(env, "ERR_CODEC_NATIVE", "slotfs_codec: N-API call failed: " #call); \
      return NULL;                                                                           \
    }                                                                                        \
  } while (0)

/* The bytes of a Uint8Array (or Buffer); throws a TypeError naming `what` otherwise. */
static int get_bytes(napi_env env, napi_value value, const char *what, uint8_t **data,
                     size_t *length) {
  bool is_typed = false;
  napi_typedarray_type type;
  void *ptr = NULL;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, value, &type, length, &ptr, NULL, NULL) != napi_ok ||
      type != napi_uint8_array) {
    napi_throw_type_error(env, "ERR_CODEC_NOT_BYTES", what);
    return 0;
  }
  *data = (uint8_t *)ptr;
  return 1;
}

/* Reads an array of at most MAX_SHARES Uint8Arrays, each at least `need` bytes long. */
static int get_byte_arrays(napi_env env, napi_value array, const char *what, size_t need,
                           uint8_t **out, size_t *count) {
  bool is_array = false;
  uint32_t n = 0;
  if (napi_is_array(env, array, &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, array, &n) != napi_ok || n > MAX_SHARES) {
    napi_throw_type_error(env, "ERR_CODEC_NATIVE_ARGS", what);
    return 0;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    size_t len = 0;
    if (napi_get_element(env, array, i, &item) != napi_ok) return 0;
    if (!get_bytes(env, item, what, &out[i], &len)) return 0;
    if (len < need) {
      napi_throw_range_error(env, "ERR_CODEC_NATIVE_ARGS", what);
      return 0;
    }
  }
  *count = n;
  return 1;
}

/* mulMatrix(coeffs: Uint8Array, inputs: Uint8Array[], outputs: Uint8Array[], length) */
static napi_value js_mul_matrix(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) {
    napi_throw_type_error(env, "ERR_CODEC_NATIVE_ARGS",
                          "mulMatrix(coeffs, inputs, outputs, length) takes 4 arguments");
    return NULL;
  }
  double length_d = 0;
  /* the range test comes first: it rejects NaN, so the cast below is always defined */
  if (napi_get_value_double(env, argv[3], &length_d) != napi_ok ||
      !(length_d >= 0 && length_d <= 9007199254740991.0) ||
      length_d != (double)(uint64_t)length_d) {
    napi_throw_type_error(env, "ERR_CODEC_NATIVE_ARGS", "length must be a whole number >= 0");
    return NULL;
  }
  size_t length = (size_t)length_d;
  uint8_t *coeffs = NULL;
  size_t coeffs_len = 0, cols = 0, rows = 0;
  uint8_t *inputs[MAX_SHARES], *outputs[MAX_SHARES];
  if (!get_bytes(env, argv[0], "coeffs must be a Uint8Array", &coeffs, &coeffs_len)) return NULL;
  if (!get_byte_arrays(env, argv[1], "inputs must be up to 256 Uint8Arrays of >= length bytes",
                       length, inputs, &cols))
    return NULL;
  if (!get_byte_arrays(env, argv[2], "outputs must be up to 256 Uint8Arrays of >= length bytes",
                       length, outputs, &rows))
    return NULL;
  if (coeffs_len < rows * cols) {
    napi_throw_range_error(env, "ERR_CODEC_NATIVE_ARGS",
                           "coeffs must hold outputs.length * inputs.length bytes");
    return NULL;
  }
  mul_matrix(coeffs, inputs, cols, outputs, rows, length);
  return NULL;
}

static int simd_supported(void) {
#ifdef SLOTFS_HAVE_AVX2
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") ? 1 : 0;
#else
  return 0;
#endif
}

/* simd(enable?: boolean): boolean — turn the SIMD loop off (for tests) or back on where the
 * CPU has it; returns whether it is in use. */
static napi_value js_simd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc >= 1) {
    napi_valuetype t;
    CHECK(napi_typeof(env, argv[0], &t));
    if (t == napi_boolean) {
      bool enable = false;
      CHECK(napi_get_value_bool(env, argv[0], &enable));
      use_simd = enable && simd_supported();
    }
  }
  CHECK(napi_get_boolean(env, use_simd != 0, &result));
  return result;
}

/* simdKind(): 'avx2' when the CPU and the build allow it, else 'scalar'. */
static napi_value js_simd_kind(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  CHECK(napi_create_string_utf8(env, simd_supported() ? "avx2" : "scalar", NAPI_AUTO_LENGTH,
                                &result));
  return result;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  init_tables();
  use_simd = simd_supported();
  napi_property_descriptor props[] = {
      {"mulMatrix", NULL, js_mul_matrix, NULL, NULL, NULL, napi_enumerable, NULL},
      {"simd", NULL, js_simd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"simdKind", NULL, js_simd_kind, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) != napi_ok)
    return NULL;
  return exports;
}
