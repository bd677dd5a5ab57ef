# ruff: noqa: F821, B007, E721, E741, UP031 - course style kept as written; the harness provides some names
# Parts III and IV of a cs231n-style PyTorch notebook: a ThreeLayerConvNet nn.Module with
# Kaiming-initialised weights, the same network through the Sequential API with a hand-written
# Flatten module, check_accuracy with model.eval() and scores.max(1), a validation loader over
# a SubsetRandomSampler, and SGD with Nesterov momentum.
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset, sampler

USE_GPU = True
dtype = torch.float32
if USE_GPU and torch.cuda.is_available():
    device = torch.device('cuda')
else:
    device = torch.device('cpu')
print_every = 4
print('using device:', device)

torch.manual_seed(0)
NUM_TRAIN = 512
images = torch.cat([torch.from_numpy(train_images), torch.from_numpy(test_images)])
labels = torch.cat([torch.from_numpy(train_labels), torch.from_numpy(test_labels)])
data = TensorDataset(images, labels)
loader_train = DataLoader(TensorDataset(images[:NUM_TRAIN], labels[:NUM_TRAIN]), batch_size=64)
loader_val = DataLoader(data, batch_size=64, sampler=sampler.SubsetRandomSampler(range(NUM_TRAIN, len(data))))


def flatten(x):
    N = x.shape[0]
    return x.view(N, -1)


class ThreeLayerConvNet(nn.Module):
    def __init__(self, in_channel, channel_1, channel_2, num_classes):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channel, channel_1, kernel_size=5, padding=2, bias=True)
        nn.init.kaiming_normal_(self.conv1.weight)
        nn.init.zeros_(self.conv1.bias)
        self.conv2 = nn.Conv2d(channel_1, channel_2, kernel_size=3, padding=1, bias=True)
        nn.init.kaiming_normal_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.fc = nn.Linear(channel_2 * 28 * 28, num_classes)
        nn.init.kaiming_normal_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        scores = self.fc(flatten(x))
        return scores


def test_ThreeLayerConvNet():
    x = torch.zeros((64, 1, 28, 28), dtype=dtype)
    model = ThreeLayerConvNet(in_channel=1, channel_1=12, channel_2=8, num_classes=10)
    scores = model(x)
    print(scores.size())
    return tuple(scores.size())


scores_size = test_ThreeLayerConvNet()


def check_accuracy_part34(loader, model):
    num_correct = 0
    num_samples = 0
    model.eval()
    with torch.no_grad():
        for x, y in loader:
            x = x.to(device=device, dtype=dtype)
            y = y.to(device=device, dtype=torch.long)
            scores = model(x)
            _, preds = scores.max(1)
            num_correct += (preds == y).sum()
            num_samples += preds.size(0)
        acc = float(num_correct) / num_samples
        print('Got %d / %d correct (%.2f)' % (num_correct, num_samples, 100 * acc))
    return acc


def train_part34(model, optimizer, epochs=1):
    model = model.to(device=device)
    losses = []
    for e in range(epochs):
        total = 0.0
        for t, (x, y) in enumerate(loader_train):
            model.train()
            x = x.to(device=device, dtype=dtype)
            y = y.to(device=device, dtype=torch.long)
            scores = model(x)
            loss = F.cross_entropy(scores, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
            if t % print_every == 0:
                print('Iteration %d, loss = %.4f' % (t, loss.item()))
        losses.append(total / (t + 1))
    return losses


learning_rate = 3e-3
channel_1, channel_2 = 12, 8
model = ThreeLayerConvNet(in_channel=1, channel_1=channel_1, channel_2=channel_2, num_classes=10)
shared.start(model)
optimizer = optim.SGD(model.parameters(), lr=learning_rate)
history = train_part34(model, optimizer, epochs=2)
part3_acc = check_accuracy_part34(loader_val, model)


class Flatten(nn.Module):
    def forward(self, x):
        return flatten(x)


model = nn.Sequential(
    nn.Conv2d(1, channel_1, 5, padding=2),
    nn.ReLU(),
    nn.Conv2d(channel_1, channel_2, 3, padding=1),
    nn.ReLU(),
    Flatten(),
    nn.Linear(channel_2 * 28 * 28, 10),
)
shared.start(model)
learning_rate = 1e-2
optimizer = optim.SGD(model.parameters(), lr=learning_rate, momentum=0.9, nesterov=True)
history += train_part34(model, optimizer, epochs=2)
test_acc = check_accuracy_part34(loader_val, model)
