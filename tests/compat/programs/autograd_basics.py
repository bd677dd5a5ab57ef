# ruff: noqa: F821, B007, E721, E741 - course style kept as written; the harness provides some names
# Automatic differentiation, in the style of d2l's preliminaries: gradients of a dot product and
# a sum, non-scalar outputs, detaching, Python control flow, and switching recording off.
import torch

torch.manual_seed(0)
checks = {}

x = torch.arange(4.0)
x.requires_grad_(True)
checks["grad starts as None"] = x.grad is None
y = 2 * torch.dot(x, x)
y.backward()
print(x.grad)
checks["d(2 x.x)/dx == 4x"] = bool((x.grad == 4 * x).all())
history = x.grad.tolist()

x.grad.zero_()
y = x.sum()
y.backward()
checks["d(sum x)/dx == 1"] = bool((x.grad == torch.ones(4)).all())
history += x.grad.tolist()

x.grad.zero_()
y = x * x
y.backward(gradient=torch.ones(len(y)))
checks["non-scalar with a gradient"] = bool((x.grad == 2 * x).all())

x.grad.zero_()
y = x * x
y.sum().backward()
history += x.grad.tolist()

x.grad.zero_()
y = x * x
u = y.detach()
z = u * x
z.sum().backward()
checks["detached u is a constant"] = bool((x.grad == u).all()) and not u.requires_grad
x.grad.zero_()
y.sum().backward()
checks["y still depends on x"] = bool((x.grad == 2 * x).all())

# gradients accumulate until zeroed
w = torch.ones(3, requires_grad=True)
for _ in range(3):
    (w * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
history += w.grad.tolist()


def f(a):
    b = a * 2
    while b.norm() < 1000:
        b = b * 2
    if b.sum() > 0:
        c = b
    else:
        c = 100 * b
    return c


a = torch.randn(size=(), requires_grad=True)
shared.start(a)
d = f(a)
d.backward()
checks["control flow: d is linear in a"] = bool(torch.abs(a.grad - d / a) < 1e-3 * torch.abs(d / a))
history.append(float(a.grad))

a = torch.tensor(-0.3, requires_grad=True)
d = f(a)
d.backward()
history.append(a.grad.item())


@torch.no_grad()
def evaluate(v):
    return v * 3, torch.is_grad_enabled()


out, enabled_inside = evaluate(x)
checks["decorator turns recording off"] = (not out.requires_grad) and (not enabled_inside) and torch.is_grad_enabled()
with torch.no_grad():
    checks["context turns recording off"] = not (x * 2).requires_grad and not torch.is_grad_enabled()
    with torch.enable_grad():
        checks["enable_grad inside no_grad"] = (x * 2).requires_grad
torch.set_grad_enabled(False)
checks["set_grad_enabled(False)"] = not (x + 1).requires_grad
torch.set_grad_enabled(True)
checks["recording is back on"] = (x + 1).requires_grad and torch.is_grad_enabled()

# the gradient of a function plotted in d2l: sin(x), computed and compared with cos(x)
xs = torch.linspace(-3.0, 3.0, 7, requires_grad=True)
torch.sin(xs).sum().backward()
checks["d sin / dx == cos"] = bool(torch.allclose(xs.grad, torch.cos(xs.detach())))
history += xs.grad.tolist()
test_acc = 0.0
