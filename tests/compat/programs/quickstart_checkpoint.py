# ruff: noqa: F821, B007, E721, E741 - course style kept as written; the harness provides some names
# The PyTorch quickstart tutorial's shape (a NeuralNetwork class, train() and test() loops over
# DataLoaders) with Adam, then the "general checkpoint" recipe: save epoch, model and optimizer
# state in one dict, load it into a fresh model and optimizer, and resume where it stopped.
import os

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
training_data = TensorDataset(torch.from_numpy(train_images), torch.from_numpy(train_labels))
test_data = TensorDataset(torch.from_numpy(test_images), torch.from_numpy(test_labels))
batch_size = 64
train_dataloader = DataLoader(training_data, batch_size=batch_size, num_workers=2, pin_memory=True)
test_dataloader = DataLoader(test_data, batch_size=batch_size)
for X, y in test_dataloader:
    print(f"Shape of X [N, C, H, W]: {X.shape}")
    print(f"Shape of y: {y.shape} {y.dtype}")
    first_batch = (tuple(X.shape), tuple(y.shape), str(y.dtype).replace("torch.", ""))
    break

device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
print(f"Using {device} device")


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28 * 28, 128),
            nn.ReLU(),
            nn.Linear(128, 128),
            nn.ReLU(),
            nn.Linear(128, 10)
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


model = NeuralNetwork().to(device)
print(model)
shared.start(model)
loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)


def train(dataloader, model, loss_fn, optimizer):
    size = len(dataloader.dataset)
    model.train()
    total = 0.0
    for batch, (X, y) in enumerate(dataloader):
        X, y = X.to(device), y.to(device)
        pred = model(X)
        loss = loss_fn(pred, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        total += loss.item()
        if batch % 4 == 0:
            loss, current = loss.item(), (batch + 1) * len(X)
            print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")
    return total / len(dataloader)


def test(dataloader, model, loss_fn):
    size = len(dataloader.dataset)
    num_batches = len(dataloader)
    model.eval()
    test_loss, correct = 0, 0
    with torch.no_grad():
        for X, y in dataloader:
            X, y = X.to(device), y.to(device)
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()
    test_loss /= num_batches
    correct /= size
    print(f"Test Error: \n Accuracy: {(100*correct):>0.1f}%, Avg loss: {test_loss:>8f} \n")
    return test_loss, correct


history = []
epochs = 2
for t in range(epochs):
    print(f"Epoch {t+1}\n-------------------------------")
    history.append(train(train_dataloader, model, loss_fn, optimizer))
    history.append(test(test_dataloader, model, loss_fn)[0])
print("Done!")

PATH = os.path.join(checkpoint_dir, "checkpoint.pt")
torch.save({
    'epoch': epochs,
    'model_state_dict': model.state_dict(),
    'optimizer_state_dict': optimizer.state_dict(),
    'loss': history[-1],
}, PATH)
history.append(train(train_dataloader, model, loss_fn, optimizer))  # a third epoch, straight on

model = NeuralNetwork()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
checkpoint = torch.load(PATH, weights_only=True)
model.load_state_dict(checkpoint['model_state_dict'])
optimizer.load_state_dict(checkpoint['optimizer_state_dict'])
epoch = checkpoint['epoch']
saved_loss = checkpoint['loss']
resumed_loss = train(train_dataloader, model, loss_fn, optimizer)  # the third epoch again, resumed
history.append(resumed_loss)

torch.save(model.state_dict(), os.path.join(checkpoint_dir, "model.pth"))
model = NeuralNetwork().to(device)
model.load_state_dict(torch.load(os.path.join(checkpoint_dir, "model.pth"), weights_only=True))
classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
model.eval()
x, y = test_data[0][0], test_data[0][1]
with torch.no_grad():
    x = x.to(device)
    pred = model(x)
    predicted, actual = classes[pred[0].argmax(0)], classes[y]
    print(f'Predicted: "{predicted}", Actual: "{actual}"')
test_acc = test(test_dataloader, model, loss_fn)[1]
