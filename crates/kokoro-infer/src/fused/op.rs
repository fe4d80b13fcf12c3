//! The fused convolution as an ONNX Runtime custom operator, registered
//! through the C API.
//!
//! `ort`'s own custom-operator layer hands each kernel to its `compute` as
//! `&mut`, but ONNX Runtime calls one kernel from every thread that runs the
//! session at once (the engine's workers share one session). This kernel
//! holds only its attributes, never written after it is made, so it is
//! registered here directly, and each call sees it as shared (`&`).
//!
//! Inputs: the activations (`float`, `[1, c_in, t]`), the packed weights
//! (`int8`, see [`super::kernel::pack`]), each output channel's sum of
//! weights (`int32`, `[c_out]`) and the bias (`float`, `[c_out]`).
//! Attributes: `c_in`, `c_out`, `kernel`, `dilation`, `pad` (ints),
//! `w_zero_point` (the export's uint8 zero point, an int) and `w_scale`
//! (float). Output: `float`, `[1, c_out, t_out]`.

use std::ffi::{c_char, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::OnceLock;

use ort::sys::{
    ONNXTensorElementDataType, OrtCustomOp, OrtCustomOpDomain,
    OrtCustomOpInputOutputCharacteristic, OrtErrorCode, OrtKernelContext, OrtKernelInfo,
    OrtMemType, OrtStatusPtr, OrtValue,
};

use super::kernel::{self, Shape};
use crate::error::{Error, Result};

/// The operator's domain in the model.
pub const DOMAIN: &str = "ai.kokoro";
/// The operator's name.
pub const NAME: &str = "FusedConv1d";
/// The operator that applies Kokoro's Snake activation to its input first.
pub const SNAKE_NAME: &str = "FusedSnakeConv1d";

type Tensor = ONNXTensorElementDataType;
const FLOAT: Tensor = Tensor::ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
const INPUTS: [Tensor; 4] = [
    FLOAT,
    Tensor::ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8,
    Tensor::ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32,
    FLOAT,
];
/// The Snake's two inputs (α and 1/α per channel) come after the activations.
const SNAKE_INPUTS: [Tensor; 6] = [FLOAT, FLOAT, FLOAT, INPUTS[1], INPUTS[2], INPUTS[3]];

/// The operators: no state of their own, so one static each serves every
/// session.
static OPERATOR: OrtCustomOp = operator();
static SNAKE_OPERATOR: OrtCustomOp = operator();

/// Whether `op` is the Snake operator.
fn is_snake(op: *const OrtCustomOp) -> bool {
    std::ptr::eq(op, &SNAKE_OPERATOR)
}

const fn operator() -> OrtCustomOp {
    OrtCustomOp {
        version: ort::sys::ORT_API_VERSION,
        CreateKernel: None,
        GetName: Some(name),
        GetExecutionProviderType: Some(provider),
        GetInputType: Some(input_type),
        GetInputTypeCount: Some(input_count),
        GetOutputType: Some(output_type),
        GetOutputTypeCount: Some(output_count),
        KernelCompute: None,
        KernelDestroy: Some(destroy),
        GetInputCharacteristic: Some(required),
        GetOutputCharacteristic: Some(required),
        GetInputMemoryType: Some(memory_type),
        GetVariadicInputMinArity: Some(one),
        GetVariadicInputHomogeneity: Some(zero),
        GetVariadicOutputMinArity: Some(one),
        GetVariadicOutputHomogeneity: Some(zero),
        CreateKernelV2: Some(create),
        KernelComputeV2: Some(compute),
        InferOutputShapeFn: None,
        GetStartVersion: Some(one),
        GetEndVersion: Some(last_version),
        GetMayInplace: Some(no_pairs),
        ReleaseMayInplace: Some(release_pairs),
        GetAliasMap: Some(no_pairs),
        ReleaseAliasMap: Some(release_pairs),
    }
}

/// The domain holding the operator, made once per process and never
/// released (a session may use it until the process ends).
struct Domain(*mut OrtCustomOpDomain);
// SAFETY: the domain is only read by ONNX Runtime once made; the pointer is
// never freed.
unsafe impl Send for Domain {}
// SAFETY: as above.
unsafe impl Sync for Domain {}

static DOMAIN_MADE: OnceLock<std::result::Result<Domain, String>> = OnceLock::new();

/// Adds the operator's domain to the options of a session being built.
/// ONNX Runtime must have been initialised.
pub(crate) fn register(options: *mut ort::sys::OrtSessionOptions) -> Result<()> {
    let domain = DOMAIN_MADE.get_or_init(|| {
        let api = ort::api();
        let name = CString::new(DOMAIN).map_err(|e| e.to_string())?;
        let mut domain = ptr::null_mut();
        // SAFETY: `name` is a valid C string for the call; `domain` receives
        // a new domain, which is kept for the process's life.
        check(unsafe { (api.CreateCustomOpDomain)(name.as_ptr(), &mut domain) })?;
        // SAFETY: the operators are static, as ONNX Runtime requires of an
        // operator added to a domain.
        check(unsafe { (api.CustomOpDomain_Add)(domain, &OPERATOR) })?;
        // SAFETY: as above.
        check(unsafe { (api.CustomOpDomain_Add)(domain, &SNAKE_OPERATOR) })?;
        Ok(Domain(domain))
    });
    let domain = domain.as_ref().map_err(|e| Error::Inference(e.clone()))?;
    // SAFETY: `options` is the builder's, valid for the call; the domain
    // outlives every session.
    check(unsafe { (ort::api().AddCustomOpDomain)(options, domain.0) }).map_err(Error::Inference)
}

fn check(status: OrtStatusPtr) -> std::result::Result<(), String> {
    if status.0.is_null() {
        return Ok(());
    }
    let api = ort::api();
    // SAFETY: a non-null status holds a message until released, here, once.
    unsafe {
        let text = std::ffi::CStr::from_ptr((api.GetErrorMessage)(status.0))
            .to_string_lossy()
            .into_owned();
        (api.ReleaseStatus)(status.0);
        Err(text)
    }
}

fn status(message: &str) -> OrtStatusPtr {
    let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
    // SAFETY: CreateStatus copies the message.
    unsafe { (ort::api().CreateStatus)(OrtErrorCode::ORT_RUNTIME_EXCEPTION, text.as_ptr()) }
}

/// One node's kernel: its attributes.
struct Kernel {
    snake: bool,
    shape: Shape,
    w_zero_point: u8,
    w_scale: f32,
}

unsafe extern "system" fn name(op: *const OrtCustomOp) -> *const c_char {
    if is_snake(op) {
        c"FusedSnakeConv1d".as_ptr()
    } else {
        c"FusedConv1d".as_ptr()
    }
}

fn inputs(op: *const OrtCustomOp) -> &'static [Tensor] {
    if is_snake(op) {
        &SNAKE_INPUTS
    } else {
        &INPUTS
    }
}

unsafe extern "system" fn provider(_: *const OrtCustomOp) -> *const c_char {
    // The CPU provider.
    ptr::null()
}

unsafe extern "system" fn input_type(op: *const OrtCustomOp, index: usize) -> Tensor {
    inputs(op)
        .get(index)
        .copied()
        .unwrap_or(Tensor::ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED)
}

unsafe extern "system" fn input_count(op: *const OrtCustomOp) -> usize {
    inputs(op).len()
}

unsafe extern "system" fn output_type(_: *const OrtCustomOp, _: usize) -> Tensor {
    FLOAT
}

unsafe extern "system" fn output_count(_: *const OrtCustomOp) -> usize {
    1
}

unsafe extern "system" fn required(
    _: *const OrtCustomOp,
    _: usize,
) -> OrtCustomOpInputOutputCharacteristic {
    OrtCustomOpInputOutputCharacteristic::INPUT_OUTPUT_REQUIRED
}

unsafe extern "system" fn memory_type(_: *const OrtCustomOp, _: usize) -> OrtMemType {
    OrtMemType::OrtMemTypeDefault
}

unsafe extern "system" fn one(_: *const OrtCustomOp) -> i32 {
    1
}

unsafe extern "system" fn zero(_: *const OrtCustomOp) -> i32 {
    0
}

unsafe extern "system" fn last_version(_: *const OrtCustomOp) -> i32 {
    i32::MAX
}

unsafe extern "system" fn no_pairs(inputs: *mut *mut i32, outputs: *mut *mut i32) -> usize {
    // SAFETY: ONNX Runtime passes two out-pointers.
    unsafe {
        *inputs = ptr::null_mut();
        *outputs = ptr::null_mut();
    }
    0
}

unsafe extern "system" fn release_pairs(_: *mut i32, _: *mut i32) {}

unsafe extern "system" fn create(
    op: *const OrtCustomOp,
    _: *const ort::sys::OrtApi,
    info: *const OrtKernelInfo,
    kernel: *mut *mut c_void,
) -> OrtStatusPtr {
    let made = catch_unwind(|| {
        let int = |name: &std::ffi::CStr| -> std::result::Result<i64, String> {
            let mut v = 0i64;
            // SAFETY: `info` is valid during kernel creation; `name` is a C string.
            check(unsafe { (ort::api().KernelInfoGetAttribute_int64)(info, name.as_ptr(), &mut v) })
                .map(|()| v)
        };
        let count = |name: &std::ffi::CStr| -> std::result::Result<usize, String> {
            let v = int(name)?;
            usize::try_from(v)
                .ok()
                .filter(|&v| v < 1 << 20)
                .ok_or_else(|| format!("{NAME}: attribute {name:?} is {v}"))
        };
        let mut w_scale = 0f32;
        // SAFETY: as above.
        check(unsafe {
            (ort::api().KernelInfoGetAttribute_float)(info, c"w_scale".as_ptr(), &mut w_scale)
        })?;
        let shape = Shape {
            c_in: count(c"c_in")?,
            c_out: count(c"c_out")?,
            k: count(c"kernel")?,
            dilation: count(c"dilation")?,
            pad: count(c"pad")?,
        };
        if shape.c_in == 0
            || shape.k == 0
            || shape.c_out == 0
            || !shape.c_out.is_multiple_of(kernel::BLOCK)
        {
            return Err(format!("{NAME}: unsupported shape {shape:?}"));
        }
        let w_zero_point = u8::try_from(int(c"w_zero_point")?)
            .map_err(|_| format!("{NAME}: w_zero_point is not a uint8"))?;
        Ok(Kernel {
            snake: is_snake(op),
            shape,
            w_zero_point,
            w_scale,
        })
    });
    match made {
        Ok(Ok(k)) => {
            // SAFETY: ONNX Runtime passes an out-pointer; the box is freed by `destroy`.
            unsafe { *kernel = Box::into_raw(Box::new(k)).cast() };
            OrtStatusPtr(ptr::null_mut())
        }
        Ok(Err(e)) => status(&e),
        Err(_) => status(&format!("{NAME}: a panic while making the kernel")),
    }
}

unsafe extern "system" fn destroy(kernel: *mut c_void) {
    if !kernel.is_null() {
        // SAFETY: made by `create` with Box::into_raw, destroyed once.
        drop(unsafe { Box::from_raw(kernel.cast::<Kernel>()) });
    }
}

unsafe extern "system" fn compute(
    kernel: *mut c_void,
    context: *mut OrtKernelContext,
) -> OrtStatusPtr {
    // SAFETY: `kernel` was made by `create` and lives until `destroy`; it is
    // only read, from any number of threads at once.
    let kernel = unsafe { &*kernel.cast_const().cast::<Kernel>() };
    match catch_unwind(AssertUnwindSafe(|| kernel.compute(context))) {
        Ok(Ok(())) => OrtStatusPtr(ptr::null_mut()),
        Ok(Err(e)) => status(&e),
        Err(_) => status(&format!("{NAME}: a panic in the kernel")),
    }
}

/// A tensor input's shape and data.
struct Input {
    dims: Vec<i64>,
    data: *const c_void,
    count: usize,
}

/// Input `index` of the call.
///
/// # Safety
/// `context` must be the call's kernel context.
unsafe fn input(
    context: *mut OrtKernelContext,
    index: usize,
    want: Tensor,
) -> std::result::Result<Input, String> {
    let api = ort::api();
    let mut value: *const OrtValue = ptr::null();
    // SAFETY: the caller's promise; `value` receives a borrowed value.
    check(unsafe { (api.KernelContext_GetInput)(context, index, &mut value) })?;
    if value.is_null() {
        return Err(format!("{NAME}: input {index} is missing"));
    }
    let mut info = ptr::null_mut();
    // SAFETY: `value` is a valid tensor for the call; `info` is released below.
    check(unsafe { (api.GetTensorTypeAndShape)(value, &mut info) })?;
    let (mut rank, mut count) = (0usize, 0usize);
    let mut kind = Tensor::ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
    let mut dims = Vec::new();
    // SAFETY: `info` came from the call above and is released once.
    let read = unsafe {
        let read = check((api.GetDimensionsCount)(info, &mut rank))
            .and_then(|()| {
                dims = vec![0i64; rank];
                check((api.GetDimensions)(info, dims.as_mut_ptr(), rank))
            })
            .and_then(|()| check((api.GetTensorShapeElementCount)(info, &mut count)))
            .and_then(|()| check((api.GetTensorElementType)(info, &mut kind)));
        (api.ReleaseTensorTypeAndShapeInfo)(info);
        read
    };
    read?;
    if kind != want {
        return Err(format!("{NAME}: input {index} is {kind:?}, not {want:?}"));
    }
    let mut data: *const c_void = ptr::null();
    // SAFETY: `value` is a valid tensor; its data stays valid for the call.
    check(unsafe { (api.GetTensorData)(value, &mut data) })?;
    if data.is_null() && count > 0 {
        return Err(format!("{NAME}: input {index} has no data"));
    }
    Ok(Input { dims, data, count })
}

impl Input {
    /// The values, as `T` (the Rust type of the element type checked).
    ///
    /// # Safety
    /// `T` must be the input's element type, and the call still running.
    unsafe fn values<T>(&self) -> &[T] {
        if self.count == 0 {
            return &[];
        }
        // SAFETY: the caller's promise; ONNX Runtime's tensors are contiguous.
        unsafe { std::slice::from_raw_parts(self.data.cast::<T>(), self.count) }
    }
}

/// Runs `task(i)` for each `i` below `n` on ONNX Runtime's thread pool for
/// this call (in turn, with one intra-op thread); an error of the pool's is
/// a panic, caught by `compute`.
fn parallel(context: *mut OrtKernelContext, n: usize, task: &(dyn Fn(usize) + Sync)) {
    unsafe extern "C" fn run(task: *mut c_void, i: usize) {
        // SAFETY: `task` is the closure `parallel` passed, alive until the
        // loop returns; only called.
        let task = unsafe { &*task.cast_const().cast::<&(dyn Fn(usize) + Sync)>() };
        // A panic must not cross into ONNX Runtime.
        let _ = catch_unwind(AssertUnwindSafe(|| task(i)));
    }
    if n == 0 {
        return;
    }
    // SAFETY: `context` is the call's; `task` outlives the loop, which
    // returns when every index is done.
    let status = unsafe {
        (ort::api().KernelContext_ParallelFor)(
            context,
            run,
            n,
            0,
            ptr::from_ref(&task).cast_mut().cast(),
        )
    };
    if let Err(e) = check(status) {
        panic!("{NAME}: the thread pool failed: {e}");
    }
}

/// What every tile of one call reads, and where it writes.
struct Call<'a> {
    shape: Shape,
    t_out: usize,
    q: &'a kernel::Quantized,
    packed: &'a [i8],
    e: &'a kernel::Epilogue,
    y: *mut f32,
}

unsafe extern "C" fn run_tile(call: *mut c_void, tile: usize) {
    // SAFETY: `call` is the `Call` that `compute` passed, alive until the
    // parallel loop returns; only read.
    let call = unsafe { &*call.cast_const().cast::<Call<'_>>() };
    // A panic must not cross into ONNX Runtime; the kernel has no panics on
    // valid data, and the output is then wrong rather than the process gone.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: each tile writes its own cells of the output, which holds
        // c_out · t_out floats; the rest was made for this call's shape.
        unsafe {
            kernel::tile(
                tile,
                call.shape,
                call.t_out,
                call.q,
                call.packed,
                call.e,
                call.y,
            )
        }
    }));
}

impl Kernel {
    fn compute(&self, context: *mut OrtKernelContext) -> std::result::Result<(), String> {
        let shape = self.shape;
        // The weights follow the activations, and the Snake's α and 1/α.
        let w = if self.snake { 3 } else { 1 };
        // SAFETY: `context` is this call's.
        let (x, packed, sums, bias) = unsafe {
            (
                input(context, 0, FLOAT)?,
                input(context, w, INPUTS[1])?,
                input(context, w + 1, INPUTS[2])?,
                input(context, w + 2, INPUTS[3])?,
            )
        };
        let [1, c, t] = x.dims[..] else {
            return Err(format!(
                "{NAME}: the input's shape is {:?}, not [1, c, t]",
                x.dims
            ));
        };
        if c != shape.c_in as i64 || t < 1 {
            return Err(format!(
                "{NAME}: the input's shape is {:?} for {} channels",
                x.dims, shape.c_in
            ));
        }
        let t = t as usize;
        if packed.count != shape.packed_len()
            || sums.count != shape.c_out
            || bias.count != shape.c_out
        {
            return Err(format!("{NAME}: weights of the wrong size for {shape:?}"));
        }
        let t_out = shape
            .t_out(t)
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("{NAME}: an input of {t} steps is shorter than the kernel"))?;
        // SAFETY: the element types were checked against f32, i8, i32, f32.
        let (xs, packed, sums, bias) = unsafe {
            (
                x.values::<f32>(),
                packed.values::<i8>(),
                sums.values::<i32>(),
                bias.values::<f32>(),
            )
        };
        let alphas = if self.snake {
            // SAFETY: `context` is this call's; the types are checked.
            let (alpha, recip) = unsafe { (input(context, 1, FLOAT)?, input(context, 2, FLOAT)?) };
            if alpha.count != shape.c_in || recip.count != shape.c_in {
                return Err(format!("{SNAKE_NAME}: α of the wrong size for {shape:?}"));
            }
            Some((alpha, recip))
        } else {
            None
        };
        // SAFETY: both are float tensors (checked), alive for the call.
        let snake = alphas
            .as_ref()
            .map(|(a, r)| unsafe { (a.values::<f32>(), r.values::<f32>()) });
        let par = |n: usize, task: &(dyn Fn(usize) + Sync)| parallel(context, n, task);
        let q = kernel::quantize(kernel::Input { x: xs, t, snake }, shape, &par);
        let e = kernel::epilogue(
            &q,
            t_out,
            shape,
            sums,
            bias,
            self.w_zero_point,
            self.w_scale,
        );
        let api = ort::api();
        let dims = [1i64, shape.c_out as i64, t_out as i64];
        let mut out: *mut OrtValue = ptr::null_mut();
        // SAFETY: `context` is this call's; the output value is ONNX Runtime's.
        check(unsafe { (api.KernelContext_GetOutput)(context, 0, dims.as_ptr(), 3, &mut out) })?;
        let mut y: *mut c_void = ptr::null_mut();
        // SAFETY: `out` is the float tensor just made, of c_out · t_out values.
        check(unsafe { (api.GetTensorMutableData)(out, &mut y) })?;
        if y.is_null() {
            return Err(format!("{NAME}: no output buffer"));
        }
        let call = Call {
            shape,
            t_out,
            q: &q,
            packed,
            e: &e,
            y: y.cast(),
        };
        let tiles = kernel::tiles(shape, t_out);
        // SAFETY: `call` outlives the loop, which returns when every tile is
        // done; `run_tile` only reads it.
        check(unsafe {
            (api.KernelContext_ParallelFor)(
                context,
                run_tile,
                tiles,
                0,
                ptr::from_ref(&call).cast_mut().cast(),
            )
        })
    }
}
