# ruff: noqa: F821, B007, E721, E741 - course style kept as written; the harness provides some names
# A Kaggle-style script: a Dataset over a CSV of image files read with pandas and PIL, a
# train/validate loop that saves the best weights, then the best model reloaded for a final score.
# The harness provides `csv_path`, `image_dir` and `checkpoint_path`.
import os

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset, random_split


class ImageCSVDataset(Dataset):
    def __init__(self, csv_file, root_dir):
        self.frame = pd.read_csv(csv_file)
        self.root_dir = root_dir

    def __len__(self):
        return len(self.frame)

    def __getitem__(self, idx):
        row = self.frame.iloc[idx]
        image = Image.open(os.path.join(self.root_dir, row["filename"])).convert("L")
        x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).unsqueeze(0)
        x = (x - 0.5) / 0.5
        return x, int(row["label"])


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(8 * 14 * 14, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv(x)))
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


torch.manual_seed(0)
dataset = ImageCSVDataset(csv_path, image_dir)
n_val = len(dataset) // 5
train_set, val_set = random_split(dataset, [len(dataset) - n_val, n_val])
train_set.indices, val_set.indices = shared.same_split(train_set.indices, val_set.indices)  # one split for both runs
train_loader = DataLoader(train_set, batch_size=32, shuffle=False, num_workers=2)
val_loader = DataLoader(val_set, batch_size=64)

model = Net()
shared.start(model)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)

best_val = float("inf")
history = []
for epoch in range(4):
    model.train()
    running = 0.0
    for images, labels in train_loader:
        optimizer.zero_grad()
        outputs = model(images)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        running += loss.item() * images.size(0)
    scheduler.step()
    model.eval()
    val_loss, correct = 0.0, 0
    with torch.no_grad():
        for images, labels in val_loader:
            outputs = model(images)
            val_loss += criterion(outputs, labels).item() * images.size(0)
            _, predicted = torch.max(outputs, 1)
            correct += (predicted == labels).sum().item()
    val_loss /= len(val_set)
    history.append(running / len(train_set))
    history.append(val_loss)
    if val_loss < best_val:
        best_val = val_loss
        torch.save(model.state_dict(), checkpoint_path)

best_model = Net()
best_model.load_state_dict(torch.load(checkpoint_path, map_location="cpu"))
best_model.eval()
with torch.no_grad():
    best_val_again = sum(criterion(best_model(x), y).item() * x.size(0) for x, y in val_loader) / len(val_set)
test_acc = correct / len(val_set)
