# ruff: noqa: F821, B007, E721, E741 - course style kept as written; the harness provides some names
# A concise MLP with dropout, in the style of d2l's dropout and weight-decay chapters: nn.Dropout
# between the hidden layers, weight decay on the weights only (parameter groups), a hand-set
# learning rate for a warm-up epoch, then a MultiStepLR schedule.
import torch
from torch import nn
from torch.utils import data

torch.manual_seed(0)
batch_size, lr, wd = 32, 0.2, 1e-3
dropout1, dropout2 = 0.2, 0.5
train_iter = data.DataLoader(data.TensorDataset(torch.tensor(train_images), torch.tensor(train_labels)),
                             batch_size, shuffle=True)
test_iter = data.DataLoader(data.TensorDataset(torch.tensor(test_images), torch.tensor(test_labels)),
                            batch_size)

net = nn.Sequential(nn.Flatten(),
                    nn.Linear(784, 256), nn.ReLU(),
                    nn.Dropout(dropout1),
                    nn.Linear(256, 64), nn.ReLU(),
                    nn.Dropout(dropout2),
                    nn.Linear(64, 10))


def init_weights(m):
    if type(m) == nn.Linear:
        nn.init.normal_(m.weight, std=0.1)
        nn.init.zeros_(m.bias)


net.apply(init_weights)
shared.start(net)

# dropout is random while training and the identity while evaluating
X = torch.tensor(test_images[:8])
net.train()
train_outputs_differ = not torch.allclose(net(X), net(X))
net.eval()
eval_outputs_equal = torch.equal(net(X), net(X))
start_logits = net(X).detach().numpy()

weights = [p for name, p in net.named_parameters() if name.endswith("weight")]
biases = [p for name, p in net.named_parameters() if name.endswith("bias")]
trainer = torch.optim.SGD([{"params": weights, "weight_decay": wd}, {"params": biases}], lr=lr)
loss = nn.CrossEntropyLoss(reduction="none")


def evaluate_accuracy(net, data_iter):
    net.eval()
    correct, total = 0, 0
    with torch.no_grad():
        for X, y in data_iter:
            correct += (net(X).argmax(axis=1) == y).sum().item()
            total += y.numel()
    return correct / total


def train_epoch(net, train_iter, loss, trainer):
    net.train()
    total, n = 0.0, 0
    for X, y in train_iter:
        l = loss(net(X), y)
        trainer.zero_grad()
        l.mean().backward()
        trainer.step()
        total += float(l.sum())
        n += y.numel()
    return total / n


num_epochs = 6
history, lrs = [], []
for group in trainer.param_groups:  # warm up with a smaller learning rate
    group["lr"] = lr / 5
history.append(train_epoch(net, train_iter, loss, trainer))
lrs.append(trainer.param_groups[0]["lr"])
for group in trainer.param_groups:
    group["lr"] = lr
scheduler = torch.optim.lr_scheduler.MultiStepLR(trainer, milestones=[2, 4], gamma=0.5)
for epoch in range(1, num_epochs):
    lrs.append(scheduler.get_last_lr()[0])
    history.append(train_epoch(net, train_iter, loss, trainer))
    scheduler.step()
test_acc = evaluate_accuracy(net, test_iter)
weight_norm = sum(float((w ** 2).sum()) for w in weights)
