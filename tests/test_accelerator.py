import npgrad


def test_the_tutorials_device_line_takes_the_cpu_branch():
    torch = npgrad
    device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
    assert device == "cpu" and npgrad.zeros(1).to(device).device == "cpu"
    assert npgrad.accelerator.device_count() == 0 and npgrad.accelerator.current_accelerator(check_available=True) is None
